//! Parses a Linux CPU list (`0-3,7`, the format of `execCPUAffinity` and cpuset files) into
//! the set of CPU numbers it names. Pure.

/// CPUs a `cpu_set_t` can hold; sched_setaffinity cannot name a higher one.
pub const MAX_CPUS: u32 = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpuListError {
    #[error("empty element in cpu list {0:?}")]
    EmptyElement(String),
    #[error("{part:?} in cpu list {list:?} is not a number or a range N-M")]
    NotANumber { list: String, part: String },
    #[error("range {part:?} in cpu list {list:?} runs backwards")]
    Backwards { list: String, part: String },
    #[error("cpu {cpu} in cpu list {list:?} is above the highest cpu {max}", max = MAX_CPUS - 1)]
    TooHigh { list: String, cpu: u32 },
}

/// The sorted, deduplicated CPU numbers of `list`. An empty list is an empty set.
pub fn parse(list: &str) -> Result<Vec<u32>, CpuListError> {
    let mut cpus = Vec::new();
    if list.is_empty() {
        return Ok(cpus);
    }
    for part in list.split(',') {
        if part.is_empty() {
            return Err(CpuListError::EmptyElement(list.to_string()));
        }
        let number = |s: &str| -> Result<u32, CpuListError> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CpuListError::NotANumber { list: list.to_string(), part: part.to_string() });
            }
            let n: u32 = s.parse().map_err(|_| CpuListError::TooHigh { list: list.to_string(), cpu: u32::MAX })?;
            if n >= MAX_CPUS {
                return Err(CpuListError::TooHigh { list: list.to_string(), cpu: n });
            }
            Ok(n)
        };
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let n = number(part)?;
                (n, n)
            }
        };
        if last < first {
            return Err(CpuListError::Backwards { list: list.to_string(), part: part.to_string() });
        }
        cpus.extend(first..=last);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn singles_and_ranges() {
        assert_eq!(parse("0-3,7").unwrap(), vec![0, 1, 2, 3, 7]);
        assert_eq!(parse("5").unwrap(), vec![5]);
        assert_eq!(parse("3,1,2-3").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse("4-4").unwrap(), vec![4]);
        assert_eq!(parse("").unwrap(), Vec::<u32>::new());
        assert_eq!(parse("1023").unwrap(), vec![1023]);
    }

    #[test]
    fn bad_lists_are_named() {
        assert_eq!(parse("1,,2").unwrap_err().to_string(), r#"empty element in cpu list "1,,2""#);
        assert_eq!(parse("1,").unwrap_err(), CpuListError::EmptyElement("1,".into()));
        assert_eq!(parse("a").unwrap_err().to_string(), r#""a" in cpu list "a" is not a number or a range N-M"#);
        assert!(matches!(parse("1-").unwrap_err(), CpuListError::NotANumber { .. }));
        assert!(matches!(parse("-1").unwrap_err(), CpuListError::NotANumber { .. }));
        assert!(matches!(parse("1-2-3").unwrap_err(), CpuListError::NotANumber { .. }));
        assert!(matches!(parse(" 1").unwrap_err(), CpuListError::NotANumber { .. }));
        assert_eq!(parse("3-1").unwrap_err().to_string(), r#"range "3-1" in cpu list "3-1" runs backwards"#);
        assert_eq!(parse("0-1024").unwrap_err().to_string(), r#"cpu 1024 in cpu list "0-1024" is above the highest cpu 1023"#);
        assert!(matches!(parse("99999999999").unwrap_err(), CpuListError::TooHigh { .. }));
    }
}
