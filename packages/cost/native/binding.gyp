{
  "targets": [
    {
      "target_name": "modularevo_spmm",
      "sources": ["src/binding.cc", "src/spmm.cc", "src/thread-pool.cc"],
      "cflags_cc": ["-O3", "-march=native", "-std=c++17"],
      "ldflags": ["-pthread"]
    }
  ]
}
