;; Prints the files named by its arguments: an absolute path through preopen fd 3 (the
;; container's "/"), a relative one through preopen fd 4 (the cwd). Exits 2 when a file
;; cannot be opened, 4 when it cannot be read.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  ;; 0: iovec and counts; 12: opened fd; 16: argc, args size; 1024: argv pointers;
  ;; 4096: argv strings; 8192: read buffer.
  (memory (export "memory") 1)

  (func $print (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))

  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $n))

  (func $cat (param $dir i32) (param $path i32) (param $len i32)
    (local $fd i32) (local $n i32)
    ;; lookup flags: follow symlinks; rights: fd_read only.
    (if (i32.ne (call $path_open (local.get $dir) (i32.const 1) (local.get $path) (local.get $len)
                  (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 12))
                (i32.const 0))
      (then (call $proc_exit (i32.const 2))))
    (local.set $fd (i32.load (i32.const 12)))
    (block $eof
      (loop $more
        (i32.store (i32.const 0) (i32.const 8192))
        (i32.store (i32.const 4) (i32.const 4096))
        (if (i32.ne (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)) (i32.const 0))
          (then (call $proc_exit (i32.const 4))))
        (local.set $n (i32.load (i32.const 8)))
        (br_if $eof (i32.eqz (local.get $n)))
        (call $print (i32.const 8192) (local.get $n))
        (br $more))))

  (func (export "_start")
    (local $i i32) (local $s i32) (local $len i32)
    (drop (call $args_sizes_get (i32.const 16) (i32.const 20)))
    (drop (call $args_get (i32.const 1024) (i32.const 4096)))
    (local.set $i (i32.const 1))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.const 16))))
        (local.set $s (i32.load (i32.add (i32.const 1024) (i32.mul (local.get $i) (i32.const 4)))))
        (local.set $len (call $strlen (local.get $s)))
        (if (i32.eq (i32.load8_u (local.get $s)) (i32.const 47))
          (then (call $cat (i32.const 3) (i32.add (local.get $s) (i32.const 1)) (i32.sub (local.get $len) (i32.const 1))))
          (else (call $cat (i32.const 4) (local.get $s) (local.get $len))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))))
