# Writes OUT, a header defining R1_GIT_COMMIT, whenever the commit (or whether the tree has local
# changes) differs from what it holds: run.json then names the commit of the binary that trained, not
# the one of the last configure. Run at every build by the r1_git_commit target (src/CMakeLists.txt).
execute_process(COMMAND git describe --always --dirty --abbrev=40 WORKING_DIRECTORY "${SRC}"
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT commit)
  set(commit "unknown")
endif()
set(text "#define R1_GIT_COMMIT \"${commit}\"\n")
set(old "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
