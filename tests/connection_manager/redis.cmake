# Tests of the Redis bus, the presence registry and the event codec. Each Redis test starts its
# own redis-server on loopback through deploy/lib/redis.sh (Debian's redis-server package).
add_executable(redis_tests
  ${CMAKE_CURRENT_LIST_DIR}/redis_event_codec_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/redis_bus_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/redis_presence_test.cpp
)
get_filename_component(HERALD_REDIS_TEST_ROOT "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
target_compile_definitions(redis_tests PRIVATE HERALD_SOURCE_DIR="${HERALD_REDIS_TEST_ROOT}")
target_link_libraries(redis_tests PRIVATE herald_cm herald_catch_main)
add_test(NAME redis_tests COMMAND redis_tests)
set_tests_properties(redis_tests PROPERTIES TIMEOUT 300)
