{
  "targets": [
    {
      "target_name": "xtkvm",
      "sources": ["native/xtkvm.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"],
      "libraries": ["-lpthread"]
    }
  ]
}
