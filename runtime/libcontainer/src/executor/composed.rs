//! Several executors as one: the first that takes a workload runs it.

use super::{Declined, Executor, ExecutorError, Launch, Workload};

/// Executors tried in order; the first whose `can_handle` says yes prepares the workload.
pub struct Composed {
    executors: Vec<Box<dyn Executor>>,
}

impl Composed {
    pub fn new(executors: Vec<Box<dyn Executor>>) -> Self {
        Composed { executors }
    }

    /// The names of the executors, in the order they are asked.
    pub fn names(&self) -> Vec<&str> {
        self.executors.iter().map(|e| e.name()).collect()
    }

    /// The first executor that takes `w`, or why none does.
    fn pick(&self, w: &Workload) -> Result<&dyn Executor, Declined> {
        let mut reasons = Vec::new();
        for e in &self.executors {
            match e.can_handle(w) {
                Ok(()) => return Ok(e.as_ref()),
                Err(why) => reasons.push(format!("{}: {why}", e.name())),
            }
        }
        if reasons.is_empty() {
            return Err(Declined::new("no executor is configured"));
        }
        Err(Declined(format!("no executor takes it ({})", reasons.join("; "))))
    }
}

impl Executor for Composed {
    fn name(&self) -> &str {
        "composed"
    }

    fn can_handle(&self, w: &Workload) -> Result<(), Declined> {
        self.pick(w).map(|_| ())
    }

    fn execs(&self, w: &Workload) -> bool {
        self.pick(w).is_ok_and(|e| e.execs(w))
    }

    fn prepare(&self, w: &Workload) -> Result<Box<dyn Launch>, ExecutorError> {
        match self.pick(w) {
            Ok(e) => e.prepare(w),
            Err(why) => Err(ExecutorError::new(format!("run {:?}", w.program())).detail(why.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;
    use crate::executor::Handover;

    /// Takes programs with the given prefix; its launch returns `code`.
    struct Prefix {
        name: &'static str,
        prefix: &'static str,
        code: i32,
    }

    struct Exits(i32);

    impl Launch for Exits {
        fn launch(self: Box<Self>, handover: Handover) -> Result<i32, ExecutorError> {
            handover.begin();
            Ok(self.0)
        }
    }

    impl Executor for Prefix {
        fn name(&self) -> &str {
            self.name
        }
        fn can_handle(&self, w: &Workload) -> Result<(), Declined> {
            if w.program().starts_with(self.prefix) {
                Ok(())
            } else {
                Err(Declined(format!("args[0] does not start with {:?}", self.prefix)))
            }
        }
        fn prepare(&self, _: &Workload) -> Result<Box<dyn Launch>, ExecutorError> {
            Ok(Box::new(Exits(self.code)))
        }
        fn execs(&self, _: &Workload) -> bool {
            self.code == 2
        }
    }

    fn run(e: &Composed, program: &str) -> Result<i32, ExecutorError> {
        let args = vec![program.to_string()];
        let annotations = HashMap::new();
        let w = Workload { args: &args, env: &[], cwd: Path::new("/"), annotations: &annotations };
        e.prepare(&w)?.launch(Handover::default())
    }

    fn two() -> Composed {
        Composed::new(vec![
            Box::new(Prefix { name: "a", prefix: "a:", code: 1 }),
            Box::new(Prefix { name: "any", prefix: "", code: 2 }),
            Box::new(Prefix { name: "never", prefix: "", code: 3 }),
        ])
    }

    #[test]
    fn the_first_that_takes_the_workload_runs_it() {
        let e = two();
        assert_eq!(e.names(), ["a", "any", "never"]);
        assert_eq!(run(&e, "a:x").unwrap(), 1);
        assert_eq!(run(&e, "b:x").unwrap(), 2);
        // Whether it execs is the chosen one's answer; no one's, when none takes it.
        let args = |p: &str| vec![p.to_string()];
        let annotations = HashMap::new();
        let execs = |e: &Composed, p: &str| e.execs(&Workload { args: &args(p), env: &[], cwd: Path::new("/"), annotations: &annotations });
        assert!(!execs(&e, "a:x") && execs(&e, "b:x"));
        assert!(!execs(&Composed::new(vec![]), "b:x"));
    }

    #[test]
    fn none_can_handle_names_each_reason() {
        let e = Composed::new(vec![
            Box::new(Prefix { name: "a", prefix: "a:", code: 1 }),
            Box::new(Prefix { name: "b", prefix: "b:", code: 2 }),
        ]);
        let args = vec!["c:x".to_string()];
        let annotations = HashMap::new();
        let w = Workload { args: &args, env: &[], cwd: Path::new("/"), annotations: &annotations };
        assert_eq!(
            e.can_handle(&w).unwrap_err().to_string(),
            r#"no executor takes it (a: args[0] does not start with "a:"; b: args[0] does not start with "b:")"#
        );
        assert_eq!(
            run(&e, "c:x").unwrap_err().to_string(),
            r#"exec: run "c:x": no executor takes it (a: args[0] does not start with "a:"; b: args[0] does not start with "b:")"#
        );
        assert_eq!(Composed::new(vec![]).can_handle(&w).unwrap_err().to_string(), "no executor is configured");
    }
}
