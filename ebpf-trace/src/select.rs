//! Narrows a trace to one container: the processes whose exec named its id, and everything
//! they started. Used with `--comm youki` when containerd drives many containers at once.

use std::collections::HashSet;

use crate::event::{Event, Kind};

/// The pids that belong to container `id`, in a time-sorted stream.
pub fn members(events: &[Event], id: &str) -> HashSet<u32> {
    let mut set = HashSet::new();
    for e in events {
        match e.kind {
            Kind::Exec if e.exec_args().1.iter().any(|a| a == id) => {
                set.insert(e.pid);
            }
            Kind::Fork if set.contains(&e.pid) => {
                set.insert(e.aux[0] as u32);
            }
            _ => {}
        }
    }
    set
}

/// Keeps the events of container `id`'s processes; signals count when either end belongs.
pub fn container(events: Vec<Event>, id: &str) -> Vec<Event> {
    let set = members(&events, id);
    events.into_iter().filter(|e| set.contains(&e.pid) || (e.kind == Kind::Signal && set.contains(&(e.aux[1] as u32)))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(ts: u64, pid: u32, args: &[&str]) -> Event {
        let mut e = Event::new(Kind::Exec, ts, pid, "youki");
        e.s1 = args.iter().flat_map(|a| a.bytes().chain([0])).collect();
        e.aux = [0, e.s1.len() as i32, e.s1.len() as i32];
        e
    }

    #[test]
    fn keeps_the_runtime_calls_for_one_id_and_their_children() {
        let mut fork = Event::new(Kind::Fork, 3, 10, "youki");
        fork.aux = [11, 10, 0];
        let events = vec![
            exec(1, 10, &["youki", "create", "--bundle", "/b/a", "ctr-a"]),
            exec(2, 20, &["youki", "create", "--bundle", "/b/b", "ctr-b"]),
            fork,
            Event::new(Kind::Syscall, 4, 11, "youki:init"),
            Event::new(Kind::Syscall, 5, 20, "youki"),
        ];
        let kept: Vec<u32> = container(events, "ctr-a").iter().map(|e| e.pid).collect();
        assert_eq!(kept, [10, 10, 11]);
    }
}
