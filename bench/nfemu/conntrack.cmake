# conntrack_bench: lookups and inserts per second, bytes per connection.
add_executable(conntrack_bench ${CMAKE_CURRENT_LIST_DIR}/conntrack_bench.cpp)
target_link_libraries(conntrack_bench PRIVATE nfemu::conntrack nfemu::stack nfemu::ruleset nfemu::packet benchmark::benchmark nfemu_options)
