#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Guile 3 threads under Boehm GC, natively and under the shim. Boehm GC stops
# the world by sending every thread a signal (pthread_kill); each thread's
# handler records where its stack ends and waits in sigsuspend until the
# restart signal, while the collector scans the stacks. Here collections run
# often (allocating threads, futures, explicit (gc) from several threads)
# while other threads wait in a condition variable, a mutex hand-off, sleep,
# a pipe and a socket read and join-thread, with results checked at the end.
# Under the shim the handlers used to run on the wrong stack and block their
# carrier: Guile crashed or hung in nearly every run. The shim runs three
# times (default, three carriers, two), each must print what the native run
# printed, exit 0 and write nothing on stderr.
#
# usage: guile_gc.sh PATH_TO_GREENHOUSE_LAUNCHER
source "$(dirname "$0")/lib.sh"
gh_init "$@"
GUILE="$(command -v guile-3.0 || command -v guile || true)"
[ -n "$GUILE" ] || skip "guile not installed"

cat > "$WORK/prog.scm" <<'EOF'
(use-modules (ice-9 threads) (ice-9 futures) (ice-9 rdelim))

;; Allocates n short strings, keeping at most 1000 alive; returns how many it
;; kept last.
(define (churn n)
  (let loop ((i 0) (keep '()))
    (cond ((= i n) (length keep))
          ((= 0 (modulo i 1000)) (loop (+ i 1) '()))
          (else (loop (+ i 1) (cons (make-string 16 #\g) keep))))))

;; A vector of lists, filled by one thread and checked later: a missed root
;; in a collection would show as a wrong sum.
(define (build k)
  (let ((v (make-vector 200 '())))
    (do ((i 0 (+ i 1))) ((= i 200) v)
      (vector-set! v i (map (lambda (j) (+ (* k 1000) i j)) (iota 50))))))
(define (vsum v)
  (let loop ((i 0) (s 0))
    (if (= i (vector-length v)) s
        (loop (+ i 1) (+ s (apply + (vector-ref v i)))))))

(define sleepers
  (map (lambda (k) (call-with-new-thread (lambda () (usleep 200000) (list 'slept k))))
       (iota 3)))
(define p (pipe))
(define pipe-reader (call-with-new-thread (lambda () (read-line (car p)))))
(define sp (socketpair AF_UNIX SOCK_STREAM 0))
(define sock-reader (call-with-new-thread (lambda () (read-line (car sp)))))

(define m (make-mutex))
(define cv (make-condition-variable))
(define q '())
(define done #f)
(define consumer
  (call-with-new-thread
   (lambda ()
     (let loop ((got 0))
       (lock-mutex m)
       (let wait () (when (and (null? q) (not done)) (wait-condition-variable cv m) (wait)))
       (let ((items q) (fin (and done (null? q))))
         (set! q '())
         (unlock-mutex m)
         (if fin got (loop (+ got (apply + (map string-length items))))))))))
(define producers
  (map (lambda (k)
         (call-with-new-thread
          (lambda ()
            (let ((v (build k)))
              (do ((i 0 (+ i 1))) ((= i 10000))
                (let ((s (number->string i)))
                  (lock-mutex m) (set! q (cons s q)) (signal-condition-variable cv) (unlock-mutex m))
                (when (= 0 (modulo i 250)) (churn 3000)))
              (vsum v)))))
       (iota 3)))
(define fs (map (lambda (k) (future (churn (* 30000 (+ k 1))))) (iota 6)))
(define joiner (call-with-new-thread (lambda () (join-thread (car sleepers)))))
(define collectors
  (map (lambda (k)
         (call-with-new-thread
          (lambda () (do ((i 0 (+ i 1))) ((= i 15)) (churn 4000) (gc)) (vsum (build (+ k 10))))))
       (iota 4)))

(display (list 'futures (map touch fs))) (newline)
(display (list 'producers (map join-thread producers))) (newline)
(lock-mutex m) (set! done #t) (broadcast-condition-variable cv) (unlock-mutex m)
(display (list 'consumer (join-thread consumer))) (newline)
(display (list 'collectors (map join-thread collectors))) (newline)
(display (list 'joiner (join-thread joiner))) (newline)
(display (list 'sleepers (map join-thread sleepers))) (newline)
(display "through the pipe\n" (cdr p)) (force-output (cdr p))
(display "through the socket\n" (cdr sp)) (force-output (cdr sp))
(display (list 'readers (join-thread pipe-reader) (join-thread sock-reader))) (newline)
EOF

SECONDS=0
# The native reference run: Guile 3.0.8 itself segfaults now and then under
# load (seen in about 1 of 20 runs next to other tests), which says nothing
# about the shim, so only that run is repeated, up to three times. The shim
# runs below are never repeated.
for attempt in 1 2 3; do
  timeout 120 "$GUILE" --no-auto-compile "$WORK/prog.scm" >"$WORK/native.out" 2>"$WORK/native.err"
  rc=$?
  [ "$rc" -eq 139 ] || break
  log "native run crashed (attempt $attempt): running it again"
done
[ "$rc" -eq 0 ] || fail "native run exited $rc: $(head -3 "$WORK/native.err")"
grep -q '^(readers through the pipe through the socket)$' "$WORK/native.out" ||
  fail "native run did not finish: $(tail -2 "$WORK/native.out")"
for carriers in "" 3 2; do
  tag="shim${carriers:+ GREENHOUSE_CARRIERS=$carriers}"
  if [ -n "$carriers" ]; then
    GREENHOUSE_CARRIERS=$carriers timeout 120 "$GH" "$GUILE" --no-auto-compile "$WORK/prog.scm" \
      >"$WORK/shim.out" 2>"$WORK/shim.err"
  else
    timeout 120 "$GH" "$GUILE" --no-auto-compile "$WORK/prog.scm" >"$WORK/shim.out" 2>"$WORK/shim.err"
  fi
  rc=$?
  if [ "$rc" -ne 0 ]; then
    fail "$tag: exit $rc ($([ "$rc" -eq 124 ] && echo 'timed out: a hang')): $(head -3 "$WORK/shim.err")"
  elif ! cmp -s "$WORK/native.out" "$WORK/shim.out"; then
    fail "$tag: output differs: $(diff "$WORK/native.out" "$WORK/shim.out" | head -5)"
  elif [ -s "$WORK/shim.err" ]; then
    fail "$tag: wrote on stderr: $(head -3 "$WORK/shim.err")"
  else
    pass "$tag: same output as natively ($(wc -l <"$WORK/shim.out") lines)"
  fi
done
log "time: ${SECONDS}s"
finish
