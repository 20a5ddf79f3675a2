//! Integration tests of the fake, one module per area, numbered by priority
//! (openraft style): t10 golden watcher transcript, t2x storage semantics,
//! t3x list/watch, t4x deletion, t5x kubelet, t6x faults, t7x TCP transport.
//! One test binary keeps link time down on the 2-core machines.

mod support;

mod t10_watcher_golden;
mod t20_storage;
mod t21_status_subresource;
mod t22_patch;
mod t30_list;
mod t31_watch;
mod t40_delete;
mod t50_kubelet;
mod t60_faults;
mod t70_tcp;
