# cmake -DSRC=python/fluxkit -DDST=build/python/fluxkit -P link_package.cmake: a symbolic link in DST to every
# entry of SRC (files and subpackages), so that DST is the package with the extension module built into it.
file(MAKE_DIRECTORY ${DST})
file(GLOB entries RELATIVE ${SRC} ${SRC}/*)
foreach(e IN LISTS entries)
  if(e STREQUAL "__pycache__")
    continue()
  endif()
  if(NOT EXISTS ${DST}/${e} AND NOT IS_SYMLINK ${DST}/${e})
    file(CREATE_LINK ${SRC}/${e} ${DST}/${e} SYMBOLIC)
  endif()
endforeach()
