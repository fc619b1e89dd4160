// The one place libfuse is included: every file of the frontend sees the same API version
// (libfuse 3.14 high-level API: fuse_new, fuse_mount, fuse_loop_mt with fuse_loop_cfg_*).
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse.h>
#include <fuse_lowlevel.h>  // fuse_session_fd()
