{
  "targets": [
    {
      "target_name": "modularevo_adamw",
      "type": "static_library",
      "sources": ["src/adamw.cc"],
      "cflags": ["-fPIC"],
      "cflags_cc": ["-O3", "-march=native", "-std=c++17", "-ffp-contract=off", "-fno-math-errno"]
    },
    {
      "target_name": "modularevo_gemm",
      "dependencies": ["modularevo_adamw"],
      "sources": ["src/binding.cc", "src/gemm.cc"],
      "cflags_cc": ["-O3", "-march=native", "-std=c++17"],
      "ldflags": ["-pthread"]
    }
  ]
}
