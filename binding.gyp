{
  "targets": [
    {
      "target_name": "tsrun_native",
      "sources": [
        "addon/addon.cc",
        "addon/plan_builder.cc",
        "addon/child.cc",
        "addon/sys.cc",
        "addon/tree_copy.cc",
        "addon/fsops.cc",
        "addon/cgroup_sys.cc",
        "addon/term.cc",
        "addon/exec_helper_fd.cc",
        "addon/userns.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"
      ],
      "cflags": [
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-fno-exceptions"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-fno-exceptions"
      ]
    },
    {
      "target_name": "tsrun-exec",
      "type": "executable",
      "sources": [
        "addon/exec_helper/helper.cc"
      ],
      "cflags!": [
        "-pthread"
      ],
      "ldflags!": [
        "-pthread",
        "-rdynamic"
      ],
      "cflags": [
        "-Os",
        "-ffreestanding",
        "-fno-builtin",
        "-fno-stack-protector",
        "-fno-asynchronous-unwind-tables",
        "-fno-pie",
        "-Wall",
        "-Wextra"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-fno-exceptions",
        "-fno-rtti"
      ],
      "ldflags": [
        "-static",
        "-nostdlib",
        "-no-pie",
        "-s",
        "-Wl,--build-id=none",
        "-Wl,-z,noexecstack"
      ],
      "conditions": [
        [
          "target_arch=='x64'",
          {
            "cflags": [
              "-fcf-protection=none"
            ]
          }
        ]
      ]
    }
  ]
}
