# The commands a new user types. Each one first installs whatever Debian packages are missing.
#   make demo   build, then run the pipeline on the bundled synthetic case
#   make test   build (release and ASan+UBSan), run every test
#   make build  build only (also the Python module: PYTHONPATH=build/python, docs/python.md)
#   make bench  build, run the benchmarks (make bench-prepare: prepare vs the seed's Python; bench-figures,
#               bench-explore: figures of the demo run, exploration vs the seed's approach)
SHELL := /bin/bash
JOBS ?= $(shell nproc)
DEMO_CONFIG ?= configs/demo.toml
export CCACHE_DIR ?= $(HOME)/.cache/ccache

.PHONY: all deps build build-asan test demo bench bench-prepare bench-training bench-figures bench-explore docs format clean

all: build

deps:
	@scripts/install-deps

build: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS)

build-asan: deps
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS)

test: build build-asan
	ctest --preset release -j $(JOBS)
	ctest --preset asan -j $(JOBS)

demo: build
	build/fluxkit synth ocean --config $(DEMO_CONFIG)
	build/fluxkit prepare --config $(DEMO_CONFIG)
	@echo "A 1 % subsample of the cells for the tuning trials ([tune] train_store, validation_store):"
	build/fluxkit prepare --config $(DEMO_CONFIG) --output-dir demo/samples_tune --splits train,validation \
	  --train-fraction 0.01 --validation-fraction 0.005
	build/fluxkit tune --config $(DEMO_CONFIG)
	build/fluxkit train --config $(DEMO_CONFIG) --config demo/tuning/best.toml
	build/fluxkit reconstruct --config $(DEMO_CONFIG)
	build/fluxkit evaluate --config $(DEMO_CONFIG)
	build/fluxkit explain --config $(DEMO_CONFIG)
	build/fluxkit explore --config $(DEMO_CONFIG)
	build/fluxkit synth footprints --config $(DEMO_CONFIG)
	build/fluxkit transport --forward --rc demo/transport/transport.rc --db demo/transport/observations.tar.gz \
	  --emis demo/transport/fluxes.nc --checkfile demo/transport/forward.ok
	build/fluxkit transport --adjoint --rc demo/transport/transport.rc --db demo/transport/observations.tar.gz \
	  --emis demo/transport/adjoint.nc --checkfile demo/transport/adjoint.ok
	build/fluxkit transport --adjtest --rc demo/transport/transport.rc --db demo/transport/observations.tar.gz \
	  --emis demo/transport/fluxes.nc
	build/fluxkit transport ocean-fluxes --config $(DEMO_CONFIG)
	build/fluxkit transport ocean-signature --config $(DEMO_CONFIG)
	build/fluxkit transport pack --rc demo/transport/transport.rc --db demo/transport/observations.tar.gz \
	  --out demo/transport/operator.fkop
	build/fluxkit transport --adjoint --adjtest --packed demo/transport/operator.fkop --rc demo/transport/transport.rc \
	  --db demo/transport/observations.tar.gz --emis demo/transport/adjoint_packed.nc
	@echo "The same forward and adjoint as LUMIA v2020 starts them (python <model.transport.exec> ...), through the shim:"
	cp demo/transport/observations.tar.gz demo/transport/observations_lumia.tar.gz
	FLUXKIT=$(CURDIR)/build/fluxkit /usr/bin/python3 python/lumia/lagrange_mp.py --forward --rc demo/transport/transport.rc \
	  --db demo/transport/observations_lumia.tar.gz --emis demo/transport/fluxes.nc --checkfile demo/transport/lumia_forward.ok
	FLUXKIT=$(CURDIR)/build/fluxkit /usr/bin/python3 python/lumia/lagrange_mp.py --adjoint --rc demo/transport/transport.rc \
	  --db demo/transport/observations_lumia.tar.gz --emis demo/transport/adjoint_lumia.nc --checkfile demo/transport/lumia_adjoint.ok
	build/fluxkit figures --config $(DEMO_CONFIG)
	build/fluxkit report --config $(DEMO_CONFIG)
	@echo
	@echo "Demo experiment: demo/data/synth/ocean/; sample stores: demo/samples/; model artifacts and"
	@echo "validation_mse.csv: demo/models/; caches: demo/reconstruction/; tables: demo/evaluation/;"
	@echo "transport case (footprints, obsdb with the forward columns, fluxes, adjoint.nc, the packed operator"
	@echo "operator.fkop and adjoint_packed.nc from it, the operator cache under run/, the runs through LUMIA's shim"
	@echo "python/lumia/lagrange_mp.py: observations_lumia.tar.gz, adjoint_lumia.nc): demo/transport/"
	@echo "(see $(DEMO_CONFIG)). Look at a file: ncdump -h demo/reconstruction/experiment_1/global/mlp_global_reconstruction_2018_experiment_1.nc"
	@echo "The reconstructed ocean flux in the transport: demo/ocean_transport/ (flux files, ocean_signature*.csv)."
	@echo "Exploration tables: demo/exploration/; explanations (SHAP values, attention): demo/explanations/;"
	@echo "figures: demo/figures/."
	@echo "The MLP is a 3-member seed ensemble (demo/models/mlp/member_*/); its spread and calibration:"
	@echo "demo/evaluation/ensemble_calibration.csv, ensemble_spread.csv, figures ensemble_*."
	@echo "The report: demo/report/index.html (open it in a browser, e.g. xdg-open demo/report/index.html)"

bench: build
	build/bench/bench_synth_ocean
	build/bench/bench_models
	build/bench/bench_transport
	bench/startup.sh build/fluxkit

# fluxkit train against the thesis code's own training (one epoch; needs SEED_DIR=<checkout of the thesis code>).
bench-training: build
	bench/compare_training.sh

# fluxkit prepare against the thesis code's own test-set preparation (needs SEED_DIR=<checkout>; minutes).
bench-prepare: build
	bench/compare_prepare.sh

# fluxkit figures on the demo run (after make demo): the budget is under 60 s on 2 cores.
bench-figures: build
	bench/figures_demo.sh 2

# fluxkit explore against the seed's concatenating approach on a 0.25-degree experiment (minutes; see the script).
bench-explore: build
	bench/compare_explore.sh

docs: build
	build/fluxkit config docs > docs/config.md

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf build build-asan
