# MacheteGen.cmake: run machete-gen's generator at configure time (as the original Machete build does).
#
#   include(cmake/MacheteGen.cmake)
#   machete_generate(OUTPUT_DIR <dir>            # where the files go (relative: to the binary dir)
#                    [TYPES <sig> ...]           # type signatures (default: all)
#                    [SCHEDULES <name> ...]      # schedule names (default: all)
#                    [NUM_SHARDS <n>] [W4A8] [HEURISTIC_TABLE <file>]
#                    OUT_FILES <var>             # set to the generated .cu files (absolute paths)
#                    [MANIFEST <var>])           # set to machete_build_manifest.json's path
#
# `generate_machete.py --dry-run` gives the file list; the generator then writes the files (only
# those whose content changed, so unchanged sources keep their mtime and nothing rebuilds). Every
# .py file of the generator is a CMAKE_CONFIGURE_DEPENDS: editing the generator (or a heuristic
# table) re-runs CMake's configure step, hence the generator, on the next build.
# MACHETE_GEN_PYTHON (cache) is the Python that runs it (needs attrs, cgen, nvidia-cutlass).
#
#   machete_build_flags(NVCC_FLAGS|CXX_FLAGS <var>)   the compiler flags (machete_gen/build_flags.py)
#   machete_cutlass_includes(<var>)                   the CUTLASS include directories

include_guard(GLOBAL)

get_filename_component(MACHETE_GEN_ROOT "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)

function(_machete_gen_python out)
  if(MACHETE_GEN_PYTHON)
    set(${out} "${MACHETE_GEN_PYTHON}" PARENT_SCOPE)
    return()
  endif()
  if(NOT Python3_EXECUTABLE)
    find_package(Python3 REQUIRED COMPONENTS Interpreter)
  endif()
  set(${out} "${Python3_EXECUTABLE}" PARENT_SCOPE)
endfunction()

function(machete_generate)
  cmake_parse_arguments(MG "W4A8" "OUTPUT_DIR;OUT_FILES;MANIFEST;NUM_SHARDS;HEURISTIC_TABLE" "TYPES;SCHEDULES" ${ARGN})
  if(NOT MG_OUTPUT_DIR OR NOT MG_OUT_FILES)
    message(FATAL_ERROR "machete_generate: OUTPUT_DIR and OUT_FILES are required")
  endif()
  if(MG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "machete_generate: unknown arguments ${MG_UNPARSED_ARGUMENTS}")
  endif()
  get_filename_component(out_dir "${MG_OUTPUT_DIR}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
  _machete_gen_python(python)
  set(gen "${MACHETE_GEN_ROOT}/generate_machete.py")

  set(args --output-dir "${out_dir}")
  if(MG_TYPES)
    list(JOIN MG_TYPES "," joined)
    list(APPEND args --types "${joined}")
  endif()
  if(MG_SCHEDULES)
    list(JOIN MG_SCHEDULES "," joined)
    list(APPEND args --schedules "${joined}")
  endif()
  if(MG_NUM_SHARDS)
    list(APPEND args --num-shards "${MG_NUM_SHARDS}")
  endif()
  if(MG_W4A8)
    list(APPEND args --w4a8)
  endif()
  if(MG_HEURISTIC_TABLE)
    get_filename_component(table "${MG_HEURISTIC_TABLE}" ABSOLUTE)
    list(APPEND args --heuristic-table "${table}")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${table}")
  endif()

  execute_process(COMMAND "${python}" "${gen}" ${args} --dry-run
                  WORKING_DIRECTORY "${MACHETE_GEN_ROOT}"
                  OUTPUT_VARIABLE listing ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "machete_generate: ${gen} --dry-run failed (${rc}): ${err}")
  endif()
  execute_process(COMMAND "${python}" "${gen}" ${args}
                  WORKING_DIRECTORY "${MACHETE_GEN_ROOT}"
                  OUTPUT_VARIABLE said ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "machete_generate: ${gen} failed (${rc}): ${err}")
  endif()
  string(STRIP "${said}" said)
  message(STATUS "${said}")

  string(REGEX REPLACE "\r?\n" ";" listing "${listing}")
  set(cu_files "")
  set(manifest "")
  foreach(path IN LISTS listing)
    if(path MATCHES "\\.cu$")
      list(APPEND cu_files "${path}")
    elseif(path MATCHES "machete_build_manifest\\.json$")
      set(manifest "${path}")
    endif()
  endforeach()

  # Re-run configure (and so the generator) when any of its sources change or appear.
  file(GLOB_RECURSE gen_sources CONFIGURE_DEPENDS
       "${MACHETE_GEN_ROOT}/machete_ir/*.py" "${MACHETE_GEN_ROOT}/passes/*.py"
       "${MACHETE_GEN_ROOT}/emitters/*.py")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${gen}" ${gen_sources})

  set(${MG_OUT_FILES} "${cu_files}" PARENT_SCOPE)
  if(MG_MANIFEST)
    set(${MG_MANIFEST} "${manifest}" PARENT_SCOPE)
  endif()
endfunction()

# Python expression -> CMake list, from machete-gen's build-flag module (machete_gen/build_flags.py).
function(_machete_build_flags_eval expr out)
  _machete_gen_python(python)
  execute_process(COMMAND "${python}" -c
                  "import sys; sys.path.insert(0, sys.argv[1]); from machete_gen import build_flags as f; print(';'.join(${expr}))"
                  "${MACHETE_GEN_ROOT}"
                  OUTPUT_VARIABLE value OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "machete: ${expr} from machete_gen/build_flags.py failed (${rc}): ${err}")
  endif()
  # editing the flags re-runs configure
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${MACHETE_GEN_ROOT}/machete_gen/build_flags.py")
  set(${out} "${value}" PARENT_SCOPE)
endfunction()

# The compiler flags of the generated sources, from machete_gen/build_flags.py (the one place they
# are spelled; setup.py and scripts/compile_kernels.sh take theirs from there too):
#   machete_build_flags(NVCC_FLAGS <var>)   nvcc flags of every kernel TU (arch, -std, -O3, -DNDEBUG ...)
#   machete_build_flags(CXX_FLAGS <var>)    host-compiler flags of the binding
function(machete_build_flags which out)
  if(NOT which MATCHES "^(NVCC_FLAGS|CXX_FLAGS)$")
    message(FATAL_ERROR "machete_build_flags: NVCC_FLAGS or CXX_FLAGS, not ${which}")
  endif()
  _machete_build_flags_eval("f.${which}" value)
  set(${out} "${value}" PARENT_SCOPE)
endfunction()

# The CUTLASS include directories of the nvidia-cutlass Python package (cutlass_library.source_path).
function(machete_cutlass_includes out)
  _machete_gen_python(python)
  execute_process(COMMAND "${python}" -c "import cutlass_library"
                  OUTPUT_QUIET ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "machete: cannot import cutlass_library (pip install nvidia-cutlass==4.2.0.0): ${err}")
  endif()
  _machete_build_flags_eval("f.cutlass_include_dirs()" dirs)
  set(${out} "${dirs}" PARENT_SCOPE)
endfunction()
