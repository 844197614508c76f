//! `[1:CHILD]` (runc's stage 1): joins the namespaces given by path, unshares the user
//! namespace and asks the parent to write its id maps, becomes root in it, unshares the
//! remaining namespaces (cgroup included, as current runc does), then clones `[2:INIT]`
//! with `CLONE_PARENT` — the clone that makes the new pid namespace real, since
//! `unshare(CLONE_NEWPID)` only applies to children. It reports init's pid and exits.

use nix::unistd::Uid;
use serde_json::json;

use super::channel::{Channel, ChannelError};
use super::clone::{clone_stage, Cloned, CLONE_PARENT, EXIT_SIGCHLD};
use super::failure::StageFailure;
use super::sync::SyncMsg;
use super::{exec_init, init, InitEnds, Shared, COMM_CHILD};
use crate::events::schema::Stage;
use crate::namespaces;

/// Run stage 1. `to_parent` is its channel with `[0:PARENT]`; `init_parent` is init's end
/// of init's channel with the parent, passed on at the clone.
pub fn run(mut sh: Shared, to_parent: Channel, init_parent: Channel, ends: InitEnds) -> ! {
    sh.begin_stage(Stage::Child, COMM_CHILD, None);
    if let Err(f) = enter_namespaces(&mut sh, &to_parent) {
        sh.fail(f);
    }
    sh.em.pause_point("before-clone");
    match clone_stage(&mut sh.em, CLONE_PARENT | EXIT_SIGCHLD, Stage::Init) {
        Err(e) => sh.fail(StageFailure::sys(
            Stage::Child,
            "clone",
            "clone [2:INIT] (CLONE_PARENT)",
            e,
        )),
        Ok(Cloned::Child) => {
            drop(to_parent);
            if sh.plan.exec.is_some() {
                exec_init::run(sh, init_parent, ends)
            } else {
                init::run(sh, init_parent, ends)
            }
        }
        Ok(Cloned::Parent(init_pid)) => {
            drop(init_parent);
            drop(ends);
            let fail = |e: ChannelError| e.into_failure(Stage::Child);
            let me = sh.em.pid();
            let r = to_parent
                .send(
                    &mut sh.em,
                    SyncMsg::RecvpidPls,
                    Some(json!({"stage1_pid": me, "stage2_pid": init_pid.as_raw()})),
                )
                .and_then(|()| to_parent.expect(&mut sh.em, SyncMsg::RecvpidAck).map(drop))
                .and_then(|()| to_parent.send(&mut sh.em, SyncMsg::ChildFinish, None));
            match r {
                Ok(()) => sh.exit(0),
                Err(e) => sh.fail(fail(e)),
            }
        }
    }
}

/// setns, then the user namespace with its maps, then the other namespaces.
fn enter_namespaces(sh: &mut Shared, to_parent: &Channel) -> Result<(), StageFailure> {
    let fail = |e: ChannelError| e.into_failure(Stage::Child);
    let ns = sh.plan.ns.clone();
    sh.em.pause_point("before-setns");
    namespaces::join_all(&ns.join, &mut sh.em)?;
    if ns.new_user {
        sh.em.pause_point("before-unshare-user");
        namespaces::unshare(libc::CLONE_NEWUSER as u64, &mut sh.em)?;
        // The parent writes our maps from outside; it must be able to open our /proc files
        // (a non-dumpable process's belong to root: a rootless parent could not).
        let _ = nix::sys::prctl::set_dumpable(true);
        to_parent
            .send(&mut sh.em, SyncMsg::UsermapPls, None)
            .map_err(fail)?;
        to_parent
            .expect(&mut sh.em, SyncMsg::UsermapAck)
            .map_err(fail)?;
        let _ = nix::sys::prctl::set_dumpable(false);
        let root = Uid::from_raw(0);
        nix::unistd::setresuid(root, root, root).map_err(|e| {
            StageFailure::sys(
                Stage::Child,
                "setresuid",
                "become root (setresuid 0) in the user namespace",
                e,
            )
        })?;
    }
    sh.em.pause_point("before-unshare");
    namespaces::unshare(ns.unshare, &mut sh.em)?;
    if !sh.plan.time_offsets.is_empty() {
        // The new time namespace applies to our children: its offsets must be written
        // before init is cloned into it. The parent writes them (current runc's order).
        let _ = nix::sys::prctl::set_dumpable(true);
        to_parent
            .send(&mut sh.em, SyncMsg::TimeoffsetsPls, None)
            .map_err(fail)?;
        to_parent
            .expect(&mut sh.em, SyncMsg::TimeoffsetsAck)
            .map_err(fail)?;
        let _ = nix::sys::prctl::set_dumpable(false);
    }
    Ok(())
}
