#include "thread-pool.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace modularevo {
namespace {

struct Pool {
  std::mutex mutex;
  std::condition_variable wake;
  std::condition_variable done;
  std::vector<std::thread> workers;
  const std::function<void(int)>* job = nullptr;
  std::atomic<int> next{0};
  int tasks = 0;
  int active = 0;
  long generation = 0;
  bool stopping = false;

  // Takes tasks until none is left; shared by the workers and the calling thread.
  void drain() {
    for (int task = next.fetch_add(1); task < tasks; task = next.fetch_add(1)) (*job)(task);
  }

  void work() {
    long seen = 0;
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      wake.wait(lock, [&] { return stopping || generation != seen; });
      if (stopping) return;
      seen = generation;
      lock.unlock();
      drain();
      lock.lock();
      if (--active == 0) done.notify_one();
    }
  }
};

Pool pool;
std::mutex callMutex;  // one parallelFor at a time: Node calls from one thread, but be safe

}  // namespace

void parallelFor(int tasks, int threads, const std::function<void(int)>& fn) {
  if (tasks <= 0) return;
  const int helpers = std::min(threads, tasks) - 1;
  if (helpers <= 0) {
    for (int task = 0; task < tasks; ++task) fn(task);
    return;
  }

  std::lock_guard<std::mutex> call(callMutex);
  std::unique_lock<std::mutex> lock(pool.mutex);
  while (static_cast<int>(pool.workers.size()) < helpers) pool.workers.emplace_back([] { pool.work(); });
  pool.job = &fn;
  pool.tasks = tasks;
  pool.next = 0;
  pool.active = static_cast<int>(pool.workers.size());
  ++pool.generation;
  lock.unlock();
  pool.wake.notify_all();

  pool.drain();

  lock.lock();
  pool.done.wait(lock, [] { return pool.active == 0; });
  pool.job = nullptr;
}

void stopThreadPool() {
  {
    std::lock_guard<std::mutex> lock(pool.mutex);
    pool.stopping = true;
  }
  pool.wake.notify_all();
  for (auto& worker : pool.workers) worker.join();
  pool.workers.clear();
  pool.stopping = false;
}

}  // namespace modularevo
