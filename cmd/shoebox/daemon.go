package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
)

// daemonCmd makes a command that fetches an API path into a message of
// type M and prints it (runGet).
func daemonCmd[M proto.Message](g *globals, use, short, path string, human func(g *globals, m M) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGet(cmd.Context(), g, path, human)
		},
	}
}

// runGet fetches an API path and prints it: as the API's JSON with
// --json, else decoded into an M and printed by human.
func runGet[M proto.Message](ctx context.Context, g *globals, path string, human func(g *globals, m M) error) error {
	return runCall(ctx, g, http.MethodGet, path, nil, human)
}

// runCall sends a request (in: its JSON body, nil for none) to an API
// path and prints the answer as runGet does.
func runCall[M proto.Message](ctx context.Context, g *globals, method, path string, in any, human func(g *globals, m M) error) error {
	c, err := g.daemonClient()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.call(ctx, method, path, in, &raw); err != nil {
		return err
	}
	if g.json {
		_, err := g.stdout.Write(append(raw, '\n'))
		return err
	}
	var m M
	m = m.ProtoReflect().New().Interface().(M)
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, m); err != nil {
		return fmt.Errorf("shoeboxd's answer: %w", err)
	}
	return human(g, m)
}

func cmdDaemon(g *globals) []*cobra.Command {
	status := daemonCmd(g, "status", "The box at a glance (from shoeboxd): sources, array, operations in progress, alerts", "/v1/status", printStatus)
	sources := daemonCmd(g, "sources", "Protected folders and their last backup (from shoeboxd)", "/v1/sources", func(g *globals, r *pb.ListSourcesResponse) error {
		printSources(g, r.Sources)
		return nil
	})
	alerts := daemonCmd(g, "alerts", "Open alerts (from shoeboxd); `alerts ack ID` acknowledges one", "/v1/alerts", func(g *globals, r *pb.ListAlertsResponse) error {
		printAlerts(g, r.Alerts)
		return nil
	})
	alerts.AddCommand(&cobra.Command{
		Use:   "ack ID",
		Short: "Acknowledge an alert",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAlertAck(cmd.Context(), g, args[0])
		},
	})
	cardsCmd := daemonCmd(g, "cards", "Ingested memory cards and whether each is SAFE TO FORMAT (from shoeboxd)", "/v1/cards", func(g *globals, r *pb.ListCardsResponse) error {
		tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "CARD\tFILES\tVERDICT\tWHY")
		for _, c := range r.Cards {
			v := "NOT SAFE"
			if c.SafeToFormat {
				v = "SAFE TO FORMAT"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", c.Id, c.Files, v, c.Reason)
		}
		return tw.Flush()
	})
	drills := daemonCmd(g, "drills", "Restore drills: when, how long, and whether the files came back intact", "/v1/drills", func(g *globals, r *pb.ListDrillsResponse) error {
		tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tSNAPSHOT\tFILES\tBYTES\tTIME TO RESTORE\tRESULT")
		for _, d := range r.Drills {
			res := "ok"
			if !d.Ok {
				res = "FAILED: " + strings.Join(d.Failures, "; ")
			}
			took := time.Duration(d.Seconds * float64(time.Second)).Round(time.Millisecond)
			fmt.Fprintf(tw, "%s\t%.8s\t%d\t%s\t%s\t%s\n", d.Time.AsTime().Local().Format("2006-01-02 15:04"), d.Snapshot, d.Files, bytesStr(d.Bytes), took, res)
		}
		return tw.Flush()
	})
	return []*cobra.Command{status, sources, alerts, cardsCmd, drills}
}

// printStatus prints the box at a glance.
func printStatus(g *globals, st *pb.Status) error {
	if st.Role != "" {
		fmt.Fprintf(g.stdout, "box: %s (%s unit)\n", st.Ready, st.Role)
	} else {
		fmt.Fprintf(g.stdout, "box: %s\n", st.Ready)
	}
	if a := st.Array; a != nil {
		fmt.Fprintf(g.stdout, "array: %s, %s, %d objects\n", strings.ToUpper(a.State), a.Layout, a.Objects)
	}
	if c := st.Capacity; c != nil {
		line := fmt.Sprintf("space: %s used, %s free", bytesStr(c.UsedBytes), bytesStr(c.FreeBytes))
		if c.DaysUntilFull >= 0 {
			line += fmt.Sprintf(", full in about %.0f days at the current rate", c.DaysUntilFull)
		}
		fmt.Fprintln(g.stdout, line)
	}
	printSources(g, st.Sources)
	printOperations(g, st.Operations)
	printAlerts(g, st.Alerts)
	return nil
}

// runAlertAck acknowledges the alert id.
func runAlertAck(ctx context.Context, g *globals, id string) error {
	c, err := g.daemonClient()
	if err != nil {
		return err
	}
	if err := c.call(ctx, http.MethodPost, "/v1/alerts/"+id+"/ack", struct{}{}, nil); err != nil {
		return err
	}
	g.out("acknowledged %s\n", id)
	return nil
}

func printSources(g *globals, rows []*pb.Source) {
	tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tPATH\tMODE\tLAST BACKUP\tSTATE")
	for _, r := range rows {
		last := "never"
		if r.LastSuccess != nil {
			last = r.LastSuccess.AsTime().Local().Format("2006-01-02 15:04:05")
		}
		state := "ok"
		switch {
		case r.Running:
			state = "backing up"
		case r.LastError != "":
			state = "FAILED: " + r.LastError
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Path, r.Mode, last, state)
	}
	tw.Flush()
}

// printOperations lists long operations: in progress, or just finished.
func printOperations(g *globals, rows []*pb.Progress) {
	if len(rows) == 0 {
		return
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "OPERATION\tSUBJECT\tSTARTED\tPROGRESS\tRATE\tLEFT")
	for _, o := range rows {
		unit := "files"
		if o.Kind == "scrub" || o.Kind == "rebuild" || o.Kind == "evacuate" {
			unit = "objects"
		}
		progress := fmt.Sprintf("%d %s", o.FilesDone, unit)
		if o.FilesTotal > 0 {
			progress = fmt.Sprintf("%d/%d %s", o.FilesDone, o.FilesTotal, unit)
		}
		if o.BytesTotal > 0 {
			progress += fmt.Sprintf(", %s of %s (%.0f%%)", bytesStr(o.BytesDone), bytesStr(o.BytesTotal), 100*float64(o.BytesDone)/float64(o.BytesTotal))
		} else if o.BytesDone > 0 {
			progress += ", " + bytesStr(o.BytesDone)
		}
		rate, left := "-", "-"
		if o.RateBytesPerSecond > 0 {
			rate = bytesStr(int64(o.RateBytesPerSecond)) + "/s"
		}
		switch {
		case o.Done && o.Error != "":
			left = "FAILED: " + o.Error
		case o.Done:
			left = "done"
		case o.EtaSeconds > 0:
			left = (time.Duration(o.EtaSeconds) * time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.Kind, o.Subject, o.Started.AsTime().Local().Format("15:04:05"), progress, rate, left)
	}
	tw.Flush()
}

func printAlerts(g *globals, rows []*pb.Alert) {
	if len(rows) == 0 {
		fmt.Fprintln(g.stdout, "no open alerts")
		return
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tWHEN\tWHAT")
	for _, a := range rows {
		sev := strings.ToUpper(a.Severity)
		if a.Acked {
			sev += " (acked)"
		}
		fmt.Fprintf(tw, "%.8s\t%s\t%s\t%s: %s\n", a.Id, sev, a.Last.AsTime().Local().Format("2006-01-02 15:04"), a.Subject, a.Message)
	}
	tw.Flush()
}
