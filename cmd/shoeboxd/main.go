// Command shoeboxd is the Shoebox daemon: it protects the configured
// folders continuously, watches the disks and serves the API.
//
//	shoeboxd -config /etc/shoebox/shoeboxd.yaml
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/shoebox/shoebox/appliance"
	"github.com/shoebox/shoebox/gateway"
)

func main() {
	config := flag.String("config", "/etc/shoebox/shoeboxd.yaml", "configuration `file` (docs/DAEMON.md)")
	check := flag.Bool("check-config", false, "validate the configuration and exit")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg, err := appliance.LoadConfig(*config)
	if err != nil {
		fmt.Fprintf(os.Stderr, "shoeboxd: %v\n", err)
		os.Exit(2)
	}
	if *check {
		fmt.Println("configuration OK")
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := appliance.New(cfg, log)
	d.API = gateway.Mount(gateway.Options{Logger: log})
	err = d.Run(ctx, func(d *appliance.Daemon) {
		daemon.SdNotify(false, daemon.SdNotifyReady)
		// Watchdog pings while the daemon is healthy (WatchdogSec= in the
		// unit); a hung daemon stops pinging and systemd restarts it.
		if every, err := daemon.SdWatchdogEnabled(false); err == nil && every > 0 {
			go func() {
				t := time.NewTicker(every / 2)
				defer t.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-t.C:
						if d.NotReady() == "" {
							daemon.SdNotify(false, daemon.SdNotifyWatchdog)
						}
					}
				}
			}()
		}
		fmt.Fprintf(os.Stderr, "shoeboxd %s is running: https://%s (status page, healthz, metrics, API); state in %s\n",
			appliance.Version, d.ListenAddr(), cfg.StateDir)
	})
	daemon.SdNotify(false, daemon.SdNotifyStopping)
	if err != nil {
		fmt.Fprintf(os.Stderr, "shoeboxd: %v\n", err)
		os.Exit(1)
	}
}
