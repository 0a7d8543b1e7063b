#pragma once
#include <functional>

namespace modularevo {

// Runs fn(0) .. fn(tasks - 1) on up to `threads` threads (the calling thread included) and returns
// when all are done. Worker threads start on first use and stay between calls, because starting a
// thread costs tens of microseconds and a model forward makes dozens of calls. After a job a worker
// polls for the next one for 50 microseconds before it parks, so the second parallelFor of a
// product, which follows the first at once, does not wait for a parked thread to wake.
void parallelFor(int tasks, int threads, const std::function<void(int)>& fn);

// Stops and joins the parked workers (called when the Node environment shuts down).
void stopThreadPool();

}  // namespace modularevo
