# SPDX-License-Identifier: MIT
# check_symbols.cmake - fails unless every symbol the shared library exports
# is named pacer_*.
#
# Usage: cmake -DLIB=/path/to/libpacer.so [-DNM=/path/to/nm] -P check_symbols.cmake
#
# Invariants: only defined dynamic symbols count (undefined ones are the
# library's imports, not its API); the checked types are code, data, bss and
# read-only data (nm's T, D, B, R), which is where a forgotten `static` or a
# missing hidden visibility shows up. A library that exports no pacer_ symbol
# at all fails too: it is the wrong file or its API went missing, and an
# empty list must not pass as "clean".
cmake_minimum_required(VERSION 3.16)

if(NOT DEFINED LIB OR LIB STREQUAL "")
  message(FATAL_ERROR "check_symbols: pass -DLIB=/path/to/libpacer.so")
endif()
if(NOT EXISTS "${LIB}")
  message(FATAL_ERROR "check_symbols: ${LIB} does not exist")
endif()
if(NOT DEFINED NM OR NM STREQUAL "")
  find_program(NM NAMES nm)
endif()
if(NOT NM)
  message(FATAL_ERROR "check_symbols: nm not found (pass -DNM=...)")
endif()

execute_process(
  COMMAND "${NM}" -D --defined-only "${LIB}"
  RESULT_VARIABLE nm_rc
  OUTPUT_VARIABLE nm_out
  ERROR_VARIABLE nm_err)
if(NOT nm_rc EQUAL 0)
  message(FATAL_ERROR "check_symbols: ${NM} -D --defined-only ${LIB} failed "
                      "(${nm_rc}): ${nm_err}")
endif()

# One symbol per line: "<address> <type> <name>[@version]".
string(REPLACE ";" "\\;" nm_out "${nm_out}")
string(REPLACE "\n" ";" nm_lines "${nm_out}")
set(bad "")
set(ours 0)
foreach(line IN LISTS nm_lines)
  if(line MATCHES "^[0-9A-Fa-f]* *([TDBR]) +([^ @]+)")
    # Saved first: the next MATCHES clears CMAKE_MATCH_<n>.
    set(type "${CMAKE_MATCH_1}")
    set(name "${CMAKE_MATCH_2}")
    if(name MATCHES "^pacer_")
      math(EXPR ours "${ours} + 1")
    else()
      string(APPEND bad "\n  ${type} ${name}")
    endif()
  endif()
endforeach()

if(NOT bad STREQUAL "")
  message(FATAL_ERROR
    "check_symbols: ${LIB} exports symbols not named pacer_*:${bad}\n"
    "Make them static, or build with hidden visibility and mark only the "
    "public API with PACER_EXTERN.")
endif()
if(ours EQUAL 0)
  message(FATAL_ERROR "check_symbols: ${LIB} exports no pacer_ symbol at all")
endif()
message(STATUS "check_symbols: ${LIB}: ${ours} exported symbol(s), all pacer_*")
