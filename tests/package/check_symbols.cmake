# SPDX-License-Identifier: MIT
# check_symbols.cmake - fails unless the shared library exports exactly the
# symbols of a checked-in list, and the public header declares exactly those.
#
# Usage: cmake -DLIB=/path/to/libpacer.so -DEXPECTED=exported_symbols.txt
#              [-DHEADER=include/pacer/pacer.h] [-DVERSION_NODE=PACER_0]
#              [-DNM=/path/to/nm] -P check_symbols.cmake
#
# Invariants: only defined dynamic symbols count (undefined ones are the
# library's imports, not its API), except the version node itself (nm's A).
# Any other type counts, so data exported by mistake fails as code does. A
# symbol the list lacks (a forgotten `static`, a lost hidden visibility, a
# version script that lets it through) fails, and so does a listed one the
# library lacks (a public function removed or renamed). With VERSION_NODE,
# every exported symbol must carry that version (the linker version script,
# cmake/pacer.map, was applied). With HEADER, the names declared with
# PACER_EXTERN must be the list too, so a function declared public but
# never exported (or the reverse) fails. An empty list never passes.
cmake_minimum_required(VERSION 3.16)

foreach(v LIB EXPECTED)
  if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
    message(FATAL_ERROR "check_symbols: pass -D${v}=...")
  endif()
  if(NOT EXISTS "${${v}}")
    message(FATAL_ERROR "check_symbols: ${${v}} does not exist")
  endif()
endforeach()
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

# One symbol per line: "<address> <type> <name>[@@version]".
string(REPLACE ";" "\\;" nm_out "${nm_out}")
string(REPLACE "\n" ";" nm_lines "${nm_out}")
set(exported "")
set(unversioned "")
foreach(line IN LISTS nm_lines)
  if(line MATCHES "^[0-9A-Fa-f]* *([A-Za-z]) +([^ @]+)(@+([^ ]+))?$")
    # Saved first: the next MATCHES clears CMAKE_MATCH_<n>.
    set(type "${CMAKE_MATCH_1}")
    set(name "${CMAKE_MATCH_2}")
    set(node "${CMAKE_MATCH_4}")
    if(type STREQUAL "A" AND DEFINED VERSION_NODE AND name STREQUAL
       VERSION_NODE)
      continue() # the version node's own symbol
    endif()
    list(APPEND exported "${name}")
    if(DEFINED VERSION_NODE AND NOT node STREQUAL VERSION_NODE)
      string(APPEND unversioned "\n  ${name} (${type}, version '${node}')")
    endif()
  endif()
endforeach()
list(REMOVE_DUPLICATES exported)
list(SORT exported)

# The list: one name a line; '#' starts a comment line.
file(STRINGS "${EXPECTED}" exp_lines)
set(expected "")
foreach(line IN LISTS exp_lines)
  string(STRIP "${line}" line)
  if(NOT line STREQUAL "" AND NOT line MATCHES "^#")
    list(APPEND expected "${line}")
  endif()
endforeach()
list(REMOVE_DUPLICATES expected)
list(SORT expected)
list(LENGTH expected n_expected)
if(n_expected EQUAL 0)
  message(FATAL_ERROR "check_symbols: ${EXPECTED} lists no symbol")
endif()

# diff(A B OUT): the names in A that are not in B, one per line.
function(diff a b out)
  set(d "")
  foreach(n IN LISTS ${a})
    if(NOT n IN_LIST ${b})
      string(APPEND d "\n  ${n}")
    endif()
  endforeach()
  set(${out} "${d}" PARENT_SCOPE)
endfunction()

set(problems "")
diff(exported expected extra)
diff(expected exported missing)
if(NOT extra STREQUAL "")
  string(APPEND problems "\nExported but not in ${EXPECTED}:${extra}\n"
    "(make them static or hidden; a new public function goes in the list)")
endif()
if(NOT missing STREQUAL "")
  string(APPEND problems "\nIn ${EXPECTED} but not exported:${missing}")
endif()
if(NOT unversioned STREQUAL "")
  string(APPEND problems "\nNot tagged ${VERSION_NODE} by the version "
    "script:${unversioned}")
endif()

if(DEFINED HEADER AND NOT HEADER STREQUAL "")
  file(READ "${HEADER}" hdr)
  string(REGEX MATCHALL "PACER_EXTERN[^;(#]*[ *]pacer_[a-z0-9_]+ *\\("
    decls "${hdr}")
  set(declared "")
  foreach(d IN LISTS decls)
    string(REGEX MATCH "pacer_[a-z0-9_]+ *\\($" name "${d}")
    string(REGEX REPLACE " *\\($" "" name "${name}")
    list(APPEND declared "${name}")
  endforeach()
  list(REMOVE_DUPLICATES declared)
  diff(declared expected undeclared_in_list)
  diff(expected declared not_declared)
  if(NOT undeclared_in_list STREQUAL "")
    string(APPEND problems "\nDeclared PACER_EXTERN in ${HEADER} but not in "
      "${EXPECTED}:${undeclared_in_list}")
  endif()
  if(NOT not_declared STREQUAL "")
    string(APPEND problems "\nIn ${EXPECTED} but not declared PACER_EXTERN "
      "in ${HEADER}:${not_declared}")
  endif()
endif()

if(NOT problems STREQUAL "")
  message(FATAL_ERROR "check_symbols: ${LIB}:${problems}")
endif()
message(STATUS "check_symbols: ${LIB}: exactly the ${n_expected} listed "
               "symbol(s) exported")
