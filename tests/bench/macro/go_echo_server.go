// SPDX-License-Identifier: MIT
// The Go peer for the macro benchmark: the same echo protocol as
// tests/programs/echo_server.c, written as a Go programmer would, one
// goroutine per connection with blocking reads and writes (the runtime's
// netpoller and M:N scheduler underneath). Built by run.py with the Debian
// golang-go package at benchmark time.
//
//	go_echo_server [-a ADDR] [-p PORT] [-w USEC]
//
// Prints "listening on ADDR:PORT" on stdout; -w burns USEC microseconds of
// CPU per request, as echo_server -w does.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

var requests, bytes, conns uint64

func burn(usec int, buf []byte) uint64 {
	var h uint64 = 1469598103934665603
	end := time.Now().Add(time.Duration(usec) * time.Microsecond)
	for time.Now().Before(end) {
		for _, b := range buf {
			h = (h ^ uint64(b)) * 1099511628211
		}
	}
	return h
}

var sink uint64

func serve(c net.Conn, work int) {
	defer c.Close()
	buf := make([]byte, 16384)
	for {
		n, err := c.Read(buf)
		if n <= 0 || err != nil {
			return
		}
		if work > 0 {
			atomic.AddUint64(&sink, burn(work, buf[:n]))
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
		atomic.AddUint64(&requests, 1)
		atomic.AddUint64(&bytes, uint64(n))
	}
}

func main() {
	addr := flag.String("a", "127.0.0.1", "address")
	port := flag.Int("p", 7007, "port (0: any)")
	work := flag.Int("w", 0, "microseconds of CPU per request")
	flag.Parse()
	ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", *addr, *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_echo_server:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr().String())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		fmt.Fprintf(os.Stderr, "echo_server: connections=%d requests=%d bytes=%d\n",
			atomic.LoadUint64(&conns), atomic.LoadUint64(&requests), atomic.LoadUint64(&bytes))
		os.Exit(0)
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		atomic.AddUint64(&conns, 1)
		go serve(c, *work)
	}
}
