// SPDX-License-Identifier: MIT
// The Go twin of api_bench.c: the same two measurements with goroutines and
// channels (api_bench.py builds it with the Debian golang-go).
package main

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

const rounds = 200000
const tasks = 100000
const pool = 128

func main() {
	ping := make(chan int)
	pong := make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	v := 0
	for i := 0; i < 1000; i++ {
		ping <- i
		v = <-pong
	}
	t0 := time.Now()
	for i := 0; i < rounds; i++ {
		ping <- i
		v = <-pong
	}
	d := time.Since(t0)
	close(ping)
	if v != rounds-1 {
		os.Exit(1)
	}
	fmt.Printf("roundtrip_ns %.1f\n", float64(d.Nanoseconds())/rounds)

	var done int64
	slots := make(chan struct{}, pool)
	var wg sync.WaitGroup
	t0 = time.Now()
	for i := 0; i < tasks; i++ {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			atomic.AddInt64(&done, 1)
			<-slots
			wg.Done()
		}()
	}
	wg.Wait()
	d = time.Since(t0)
	if done != tasks {
		os.Exit(1)
	}
	fmt.Printf("pool_tasks_per_s %.0f\n", tasks/d.Seconds())
}
