# Kernel runs of nfemu verify (included by tests/verify/CMakeLists.txt):
# root and network namespaces, else SKIP (77). One at a time: they share
# the kernel log and real time.
add_test(NAME verify_kernel_smoke
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/run-one.sh $<TARGET_FILE:nfemu> ${CMAKE_CURRENT_SOURCE_DIR}/smoke/smoke.toml)
set_tests_properties(verify_kernel_smoke PROPERTIES LABELS "kernel" SKIP_RETURN_CODE 77 RUN_SERIAL TRUE TIMEOUT 120)

# Every example scenario, kernel against nfemu, judged against
# tests/scenarios/KNOWN-DIFFERENCES (scripts/verify-scenario.sh). The
# timeout leaves room to wait for the lock while another verify run (a
# whole `make fidelity`: ~4 minutes) holds it; run-one.sh interrupts verify
# at 570 s so that it cleans up before CTest's SIGKILL.
file(GLOB verify_scenarios CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/scenarios/*/*.toml)
foreach(sc ${verify_scenarios})
  get_filename_component(dir ${sc} DIRECTORY)
  get_filename_component(name ${dir} NAME)
  add_test(NAME verify_${name} COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/run-one.sh $<TARGET_FILE:nfemu> ${sc})
  set_tests_properties(verify_${name} PROPERTIES LABELS "kernel;verify" SKIP_RETURN_CODE 77 RUN_SERIAL TRUE TIMEOUT 600)
endforeach()

# The harness's failure paths: a refused rule, Ctrl-C in the middle of a run.
add_test(NAME verify_kernel_harness
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/harness-check.sh $<TARGET_FILE:nfemu> ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(verify_kernel_harness PROPERTIES LABELS "kernel" SKIP_RETURN_CODE 77 RUN_SERIAL TRUE TIMEOUT 120)
