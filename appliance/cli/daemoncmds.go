package cli

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// daemonClient talks to a running shoeboxd over its local API, trusting
// the box's own certificate from the state directory.
type daemonClient struct {
	base  string
	token string
	http  *http.Client
}

func newDaemonClient() (*daemonClient, error) {
	state := stateDir()
	base := os.Getenv("SHOEBOX_DAEMON")
	if base == "" {
		base = "https://localhost:8443"
	}
	tok, err := os.ReadFile(filepath.Join(state, "api-token"))
	if err != nil {
		return nil, fmt.Errorf("no API token in %s (%v): is shoeboxd running with that state directory? set SHOEBOX_STATE_DIR; for a repository without the daemon use --repo", state, err)
	}
	pem, err := os.ReadFile(filepath.Join(state, "tls", "cert.pem"))
	if err != nil {
		return nil, fmt.Errorf("the box's certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &daemonClient{base: strings.TrimRight(base, "/"), token: strings.TrimSpace(string(tok)),
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}, nil
}

func (c *daemonClient) do(method, path string, out any) error {
	req, err := http.NewRequest(method, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("shoeboxd at %s: %w (is it running?)", c.base, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		json.Unmarshal(b, &e)
		return fmt.Errorf("shoeboxd: %s: %s", resp.Status, e.Error)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// daemonCmd makes a command that fetches an API path and prints it.
func daemonCmd(g *globals, use, short, path string, human func(g *globals, raw json.RawMessage) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newDaemonClient()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(http.MethodGet, path, &raw); err != nil {
				return err
			}
			if g.json {
				_, err := g.stdout.Write(append(raw, '\n'))
				return err
			}
			return human(g, raw)
		},
	}
}

func cmdDaemon(g *globals) []*cobra.Command {
	status := daemonCmd(g, "status", "The box at a glance (from shoeboxd): sources, array, operations in progress, alerts", "/v1/status", func(g *globals, raw json.RawMessage) error {
		var st struct {
			Ready      string
			Sources    []sourceRow
			Operations []operationRow
			Alerts     []alertRow
			Array      *struct {
				State, Layout string
				Objects       int
			}
		}
		if err := json.Unmarshal(raw, &st); err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "box: %s\n", st.Ready)
		if st.Array != nil {
			fmt.Fprintf(g.stdout, "array: %s, %s, %d objects\n", strings.ToUpper(st.Array.State), st.Array.Layout, st.Array.Objects)
		}
		printSources(g, st.Sources)
		printOperations(g, st.Operations)
		printAlerts(g, st.Alerts)
		return nil
	})
	sources := daemonCmd(g, "sources", "Protected folders and their last backup (from shoeboxd)", "/v1/sources", func(g *globals, raw json.RawMessage) error {
		var rows []sourceRow
		if err := json.Unmarshal(raw, &rows); err != nil {
			return err
		}
		printSources(g, rows)
		return nil
	})
	alerts := daemonCmd(g, "alerts", "Open alerts (from shoeboxd); `alerts ack ID` acknowledges one", "/v1/alerts", func(g *globals, raw json.RawMessage) error {
		var rows []alertRow
		if err := json.Unmarshal(raw, &rows); err != nil {
			return err
		}
		printAlerts(g, rows)
		return nil
	})
	alerts.AddCommand(&cobra.Command{
		Use:   "ack ID",
		Short: "Acknowledge an alert",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newDaemonClient()
			if err != nil {
				return err
			}
			if err := c.do(http.MethodPost, "/v1/alerts/"+args[0]+"/ack", nil); err != nil {
				return err
			}
			g.out("acknowledged %s\n", args[0])
			return nil
		},
	})
	cardsCmd := daemonCmd(g, "cards", "Ingested memory cards and whether each is SAFE TO FORMAT (from shoeboxd)", "/v1/cards", func(g *globals, raw json.RawMessage) error {
		var rows []struct {
			Card         string
			Files        int
			SafeToFormat bool
			Reason       string
		}
		if err := json.Unmarshal(raw, &rows); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "CARD\tFILES\tVERDICT\tWHY")
		for _, r := range rows {
			v := "NOT SAFE"
			if r.SafeToFormat {
				v = "SAFE TO FORMAT"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", r.Card, r.Files, v, r.Reason)
		}
		return tw.Flush()
	})
	drills := daemonCmd(g, "drills", "Restore drills: when, how long, and whether the files came back intact", "/v1/drills", func(g *globals, raw json.RawMessage) error {
		var rows []struct {
			Time     time.Time
			Snapshot string
			Files    int
			Bytes    int64
			Duration time.Duration `json:"duration_ns"`
			OK       bool
			Failures []string
		}
		if err := json.Unmarshal(raw, &rows); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tSNAPSHOT\tFILES\tBYTES\tTIME TO RESTORE\tRESULT")
		for _, r := range rows {
			res := "ok"
			if !r.OK {
				res = "FAILED: " + strings.Join(r.Failures, "; ")
			}
			fmt.Fprintf(tw, "%s\t%.8s\t%d\t%s\t%s\t%s\n", r.Time.Local().Format("2006-01-02 15:04"), r.Snapshot, r.Files, bytesStr(r.Bytes), r.Duration.Round(time.Millisecond), res)
		}
		return tw.Flush()
	})
	return []*cobra.Command{status, sources, alerts, cardsCmd, drills}
}

type sourceRow struct {
	Name        string
	Path        string
	Mode        string
	LastSuccess *time.Time `json:"last_success"`
	LastError   string     `json:"last_error"`
	Running     bool
}

type alertRow struct {
	ID       string
	Severity string
	Subject  string
	Message  string
	Last     time.Time
	Acked    bool
}

func printSources(g *globals, rows []sourceRow) {
	tw := tabwriter.NewWriter(g.stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tPATH\tMODE\tLAST BACKUP\tSTATE")
	for _, r := range rows {
		last := "never"
		if r.LastSuccess != nil {
			last = r.LastSuccess.Local().Format("2006-01-02 15:04:05")
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

type operationRow struct {
	Kind       string
	Subject    string
	FilesDone  int64   `json:"files_done"`
	FilesTotal int64   `json:"files_total"`
	BytesDone  int64   `json:"bytes_done"`
	BytesTotal int64   `json:"bytes_total"`
	Rate       float64 `json:"rate_bytes_per_sec"`
	ETA        float64 `json:"eta_seconds"`
	Started    time.Time
	Done       bool
	Error      string
}

// printOperations lists long operations: in progress, or just finished.
func printOperations(g *globals, rows []operationRow) {
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
		if o.Rate > 0 {
			rate = bytesStr(int64(o.Rate)) + "/s"
		}
		switch {
		case o.Done && o.Error != "":
			left = "FAILED: " + o.Error
		case o.Done:
			left = "done"
		case o.ETA > 0:
			left = (time.Duration(o.ETA) * time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.Kind, o.Subject, o.Started.Local().Format("15:04:05"), progress, rate, left)
	}
	tw.Flush()
}

func printAlerts(g *globals, rows []alertRow) {
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
		fmt.Fprintf(tw, "%.8s\t%s\t%s\t%s: %s\n", a.ID, sev, a.Last.Local().Format("2006-01-02 15:04"), a.Subject, a.Message)
	}
	tw.Flush()
}
