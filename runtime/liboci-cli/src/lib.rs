//! runc's command line, flag for flag, as clap structs. No I/O and no logic here.
