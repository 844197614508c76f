//! `[0:PARENT]` (runc's stage 0): waits for `create` to have put it in the cgroup
//! (BOOTSTRAP_DATA), clones `[1:CHILD]` with `CLONE_PARENT`, writes the child's uid/gid
//! maps from outside its new user namespace, forwards both pids to `create`, then
//! releases init (SYNC_GRANDCHILD) and exits once init says it is done with it.

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxIdMapping;
use serde_json::json;

use super::channel::{Channel, ChannelError};
use super::clone::{clone_stage, Cloned, CLONE_PARENT, EXIT_SIGCHLD};
use super::failure::StageFailure;
use super::sync::SyncMsg;
use super::{child, InitEnds, Shared, COMM_PARENT};
use crate::events::schema::{EventKind, Stage};
use crate::process::oom::set_oom_score_adj;

/// Run stage 0. Never returns.
pub fn run(mut sh: Shared, boot: Channel, ends: InitEnds) -> ! {
    sh.begin_stage(Stage::Parent, COMM_PARENT, None);
    // Into the cgroup first: everything this stage makes is born inside it.
    let join = sh.join.clone();
    if let Err(f) = join.join_self(&mut sh.em) {
        sh.fail(f);
    }
    if let Err(e) = boot.expect(&mut sh.em, SyncMsg::Bootstrap) {
        sh.fail(e.into_failure(Stage::Parent));
    }
    sh.em.pause_point("after-bootstrap");
    if let Some(adj) = sh.plan.process.as_ref().and_then(|p| p.oom_score_adj) {
        // A non-dumpable process's /proc files belong to root: a rootless parent could
        // not write its own oom_score_adj (runc writes it before going non-dumpable).
        let _ = nix::sys::prctl::set_dumpable(true);
        let r = set_oom_score_adj(adj, &mut sh.em);
        let _ = nix::sys::prctl::set_dumpable(false);
        if let Err(f) = r {
            sh.fail(f);
        }
    }
    let pairs = Channel::pair(Stage::Parent, Stage::Child)
        .and_then(|c| Channel::pair(Stage::Parent, Stage::Init).map(|i| (c, i)));
    let ((to_child, child_end), (to_init, init_end)) = match pairs {
        Ok(p) => p,
        Err(e) => sh.fail(StageFailure::sys(
            Stage::Parent,
            "socketpair",
            "socketpair",
            e,
        )),
    };
    sh.em.pause_point("before-clone");
    match clone_stage(&mut sh.em, CLONE_PARENT | EXIT_SIGCHLD, Stage::Child) {
        Err(e) => sh.fail(StageFailure::sys(
            Stage::Parent,
            "clone",
            "clone [1:CHILD] (CLONE_PARENT)",
            e,
        )),
        Ok(Cloned::Child) => {
            // The child keeps only its own ends.
            drop(boot);
            drop(to_child);
            drop(to_init);
            child::run(sh, child_end, init_end, ends)
        }
        Ok(Cloned::Parent(child_pid)) => {
            drop(child_end);
            drop(init_end);
            drop(ends);
            match serve(&mut sh, &boot, &to_child, &to_init, child_pid) {
                Ok(()) => sh.exit(0),
                Err(f) => sh.fail(f),
            }
        }
    }
}

/// The parent's side of the protocol, after the clone.
fn serve(
    sh: &mut Shared,
    boot: &Channel,
    to_child: &Channel,
    to_init: &Channel,
    child_pid: Pid,
) -> Result<(), StageFailure> {
    let fail = |e: ChannelError| e.into_failure(Stage::Parent);
    let mut stage2_pid = None;
    loop {
        let (msg, data) = to_child
            .recv(
                &mut sh.em,
                "SYNC_USERMAP_PLS, SYNC_TIMEOFFSETS_PLS, SYNC_RECVPID_PLS or SYNC_CHILD_FINISH",
            )
            .map_err(fail)?;
        match msg {
            SyncMsg::UsermapPls => {
                sh.em.pause_point("before-id-maps");
                write_id_maps(sh, child_pid)?;
                to_child
                    .send(&mut sh.em, SyncMsg::UsermapAck, None)
                    .map_err(fail)?;
            }
            SyncMsg::TimeoffsetsPls => {
                write_time_offsets(sh, child_pid)?;
                to_child
                    .send(&mut sh.em, SyncMsg::TimeoffsetsAck, None)
                    .map_err(fail)?;
            }
            SyncMsg::RecvpidPls => {
                let pid = data
                    .as_ref()
                    .and_then(|d| d["stage2_pid"].as_i64())
                    .ok_or_else(|| {
                        StageFailure::new(
                            Stage::Parent,
                            "sync_recv",
                            "SYNC_RECVPID_PLS without stage2_pid",
                        )
                    })?;
                stage2_pid = Some(pid);
                to_child
                    .send(&mut sh.em, SyncMsg::RecvpidAck, None)
                    .map_err(fail)?;
                boot.send(
                    &mut sh.em,
                    SyncMsg::StagePids,
                    Some(json!({"stage1_pid": child_pid.as_raw(), "stage2_pid": pid})),
                )
                .map_err(fail)?;
            }
            SyncMsg::ChildFinish => break,
            other => {
                return Err(StageFailure::new(
                    Stage::Parent,
                    "sync_recv",
                    format!("unexpected {} from [1:CHILD]", other.name()),
                ))
            }
        }
    }
    if stage2_pid.is_none() {
        return Err(StageFailure::new(
            Stage::Parent,
            "sync_recv",
            "[1:CHILD] finished without reporting init's pid (SYNC_RECVPID_PLS)",
        ));
    }
    sh.em.pause_point("before-grandchild");
    to_init
        .send(&mut sh.em, SyncMsg::Grandchild, None)
        .map_err(fail)?;
    to_init
        .expect(&mut sh.em, SyncMsg::ChildFinish)
        .map_err(fail)?;
    Ok(())
}

fn map_lines(maps: &[LinuxIdMapping]) -> Vec<String> {
    maps.iter()
        .map(|m| format!("{} {} {}", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Write `content` to `/proc/<pid>/<file>` in one write (the kernel requires it).
fn write_proc(pid: Pid, file: &str, content: &str, field: &str) -> Result<(), StageFailure> {
    let path = format!("/proc/{pid}/{file}");
    let what = || format!("write {content:?} to {path}{field}");
    let fd = open(
        path.as_str(),
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| StageFailure::sys(Stage::Parent, file, what(), e))?;
    match nix::unistd::write(&fd, content.as_bytes()) {
        Ok(n) if n == content.len() => Ok(()),
        Ok(_) => Err(StageFailure::new(
            Stage::Parent,
            file,
            format!("{}: short write", what()),
        )),
        Err(e) => Err(StageFailure::sys(Stage::Parent, file, what(), e)),
    }
}

/// The child's new time namespace gets its clock offsets before any process enters it
/// (the kernel refuses them afterwards), written from outside as current runc does.
fn write_time_offsets(sh: &mut Shared, pid: Pid) -> Result<(), StageFailure> {
    let lines = sh.plan.time_offsets.clone();
    let content = lines.join("\n") + "\n";
    write_proc(
        pid,
        "timens_offsets",
        &content,
        " (linux.timeOffsets rejected by the kernel)",
    )?;
    sh.em.emit(EventKind::TimeOffsets {
        target_pid: pid.as_raw(),
        lines,
    });
    Ok(())
}

/// setgroups "deny" first when unprivileged (as runc, and before gid_map as the kernel
/// requires of a writer without CAP_SETGID), then uid_map, then gid_map for the child.
fn write_id_maps(sh: &mut Shared, pid: Pid) -> Result<(), StageFailure> {
    let setgroups = sh.plan.setgroups_deny.then(|| "deny".to_string());
    if let Some(s) = &setgroups {
        write_proc(pid, "setgroups", s, "")?;
    }
    let uid_lines = map_lines(&sh.plan.uid_mappings);
    let content = uid_lines.join("\n") + "\n";
    write_proc(
        pid,
        "uid_map",
        &content,
        " (linux.uidMappings rejected by the kernel)",
    )?;
    sh.em.emit(EventKind::UidMap {
        target_pid: pid.as_raw(),
        lines: uid_lines,
    });
    let gid_lines = map_lines(&sh.plan.gid_mappings);
    let content = gid_lines.join("\n") + "\n";
    write_proc(
        pid,
        "gid_map",
        &content,
        " (linux.gidMappings rejected by the kernel)",
    )?;
    sh.em.emit(EventKind::GidMap {
        target_pid: pid.as_raw(),
        lines: gid_lines,
        setgroups,
    });
    Ok(())
}
