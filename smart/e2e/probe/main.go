// Command probe reads every disk of the machine once through smart.Discover
// and the Poller, and prints the statuses and verdict-change events as one
// JSON object: {"disks": [smart.Status…], "events": [smart.Event…]}.
//
// It is the program the QEMU end-to-end test (smart/e2e) runs inside the
// guest, and a quick way to see what smart.Open makes of the disks of a
// real machine:
//
//	go run ./smart/e2e/probe -state /tmp/smart-state
//
// With -drop-caps it first drops CAP_SYS_ADMIN and CAP_SYS_RAWIO from all
// its threads, to show what an unprivileged reader gets.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/shoebox/shoebox/smart"
)

func main() {
	state := flag.String("state", "", "history directory (default: a new temporary directory)")
	dropCaps := flag.Bool("drop-caps", false, "drop CAP_SYS_ADMIN and CAP_SYS_RAWIO before reading")
	flag.Parse()
	if err := run(*state, *dropCaps); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func run(state string, dropCaps bool) error {
	if dropCaps {
		if err := dropDiskCaps(); err != nil {
			return err
		}
	}
	if state == "" {
		dir, err := os.MkdirTemp("", "smart-probe-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		state = dir
	}
	h, err := smart.OpenHistory(state)
	if err != nil {
		return err
	}
	p := &smart.Poller{History: h}
	events := p.Subscribe(64)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sts, err := p.Poll(ctx)
	if err != nil {
		return err
	}
	out := struct {
		Disks  []smart.Status `json:"disks"`
		Events []smart.Event  `json:"events"`
	}{Disks: sts, Events: []smart.Event{}}
	if out.Disks == nil {
		out.Disks = []smart.Status{}
	}
	for len(events) > 0 {
		out.Events = append(out.Events, <-events)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// dropDiskCaps removes CAP_SYS_ADMIN (21) and CAP_SYS_RAWIO (17) from the
// effective and permitted sets of every thread (capset is per thread;
// AllThreadsSyscall needs CGO_ENABLED=0).
func dropDiskCaps() error {
	const linuxCapabilityVersion3 = 0x20080522
	hdr := struct {
		version uint32
		pid     int32
	}{version: linuxCapabilityVersion3}
	var data [2]struct{ effective, permitted, inheritable uint32 }
	if _, _, e := syscall.RawSyscall(syscall.SYS_CAPGET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("capget: %w", e)
	}
	const drop = 1<<21 | 1<<17
	data[0].effective &^= drop
	data[0].permitted &^= drop
	if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	return nil
}
