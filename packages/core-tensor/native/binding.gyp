{
  "targets": [
    {
      "target_name": "modularevo_gemm",
      "sources": ["src/binding.cc", "src/gemm.cc"],
      "cflags_cc": ["-O3", "-march=native", "-std=c++17"],
      "ldflags": ["-pthread"]
    }
  ]
}
