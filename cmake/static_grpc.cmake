# Link gRPC, protobuf and Abseil statically into runyard's programs.
#
# Why: those come as some 60 shared libraries, and resolving their symbols at every start
# was half of the CLI's start-up (`runyard --help`: 30 ms of CPU, half of it in ld.so).
# The CLI starts once per command, so every submit paid it. Debian ships the static
# archives next to the shared ones; the packages' CMake configs name only the shared ones,
# so this points each imported target at its archive instead. Targets without an archive
# stay shared; zlib, c-ares, re2 and the rest stay shared (a handful of libraries).
option(RUNYARD_STATIC_GRPC "Link gRPC, protobuf and Abseil statically (faster start-up)" ON)

function(runyard_use_static_grpc)
  if(NOT RUNYARD_STATIC_GRPC)
    return()
  endif()
  get_directory_property(imported IMPORTED_TARGETS)
  set(switched 0)
  foreach(target IN LISTS imported)
    if(NOT target MATCHES "^(gRPC|absl|protobuf)::")
      continue()
    endif()
    get_target_property(type ${target} TYPE)
    if(NOT type STREQUAL "SHARED_LIBRARY" AND NOT type STREQUAL "UNKNOWN_LIBRARY")
      continue()
    endif()
    foreach(property IMPORTED_LOCATION IMPORTED_LOCATION_NONE IMPORTED_LOCATION_RELEASE IMPORTED_LOCATION_DEBUG)
      get_target_property(location ${target} ${property})
      if(NOT location)
        continue()
      endif()
      string(REGEX REPLACE "\\.so(\\.[0-9.]+)?$" ".a" archive "${location}")
      if(NOT archive STREQUAL location AND EXISTS "${archive}")
        set_target_properties(${target} PROPERTIES ${property} "${archive}")
        math(EXPR switched "${switched} + 1")
      endif()
    endforeach()
  endforeach()
  message(STATUS "runyard: linking gRPC, protobuf and Abseil statically (${switched} libraries; RUNYARD_STATIC_GRPC=OFF to link them shared)")
endfunction()
