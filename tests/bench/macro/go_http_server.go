// SPDX-License-Identifier: MIT
// The Go peer for the HTTP benchmark: the same responses as
// tests/programs/http_server.c (HTTP/1.1 keep-alive, a fixed body) from Go's
// standard net/http server, which serves each connection from a goroutine
// with blocking reads and writes (the runtime's netpoller and M:N scheduler
// underneath): what a Go programmer would write. net/http adds a Date
// header to each response. Built by run.py with the Debian golang-go
// package at benchmark time.
//
//	go_http_server [-a ADDR] [-p PORT] [-s BODY_BYTES]
//
// Prints "listening on ADDR:PORT" on stdout; SIGINT/SIGTERM prints
// "http_server: connections=C requests=R" on stderr and exits 0.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
)

var requests, conns uint64

func main() {
	addr := flag.String("a", "127.0.0.1", "address")
	port := flag.Int("p", 8080, "port (0: any)")
	size := flag.Int("s", 128, "response body bytes")
	flag.Parse()
	body := make([]byte, *size) // as http_server's
	for i := range body {
		if i%64 == 63 {
			body[i] = '\n'
		} else {
			body[i] = byte('a' + i%26)
		}
	}
	length := strconv.Itoa(len(body))
	ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", *addr, *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_http_server:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr().String())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		fmt.Fprintf(os.Stderr, "http_server: connections=%d requests=%d\n",
			atomic.LoadUint64(&conns), atomic.LoadUint64(&requests))
		os.Exit(0)
	}()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Type", "text/plain")
			h.Set("Content-Length", length)
			w.Write(body)
			atomic.AddUint64(&requests, 1)
		}),
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				atomic.AddUint64(&conns, 1)
			}
		},
	}
	srv.Serve(ln)
}
