package appliance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/smtp"
	"os"
	"strings"
	"time"
)

// notify sends every alert notification to the configured webhooks
// (JSON POST, retried with backoff) and by email, each delivery a task
// of the supervisor. Its subscription to the bus ends with it (a
// restarted notify subscribes anew; the old channel is dropped).
func (d *Daemon) notify(ctx context.Context) error {
	ch, unsubscribe := d.Bus.SubscribeCancel(256)
	defer unsubscribe()
	// No kept-alive connection (and its goroutines) outlives a delivery:
	// alerts are rare, and the daemon leaves no goroutine when it stops.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	client := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case a := <-ch:
			for _, url := range d.Config.Alerts.Webhooks {
				d.sup.Go(ctx, "webhook", func(ctx context.Context) { d.webhook(ctx, client, url, a) })
			}
			if e := d.Config.Alerts.Email; e.SMTP != "" && len(e.To) > 0 {
				d.sup.Go(ctx, "email", func(context.Context) {
					if err := d.email(a); err != nil {
						d.Logger.Warn("alert email not sent", "err", err)
					}
				})
			}
		}
	}
}

// WebhookPayload is what a webhook receives.
type WebhookPayload struct {
	Box   string `json:"box"`
	Alert Alert  `json:"alert"`
}

func (d *Daemon) webhook(ctx context.Context, c *http.Client, url string, a Alert) {
	host, _ := os.Hostname()
	body, _ := json.Marshal(WebhookPayload{Box: host, Alert: a})
	delay := time.Second
	for try := 0; try < 5; try++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 300 {
				return
			}
			err = fmt.Errorf("HTTP %s", resp.Status)
		}
		d.Logger.Warn("alert webhook failed; retrying", "url", url, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay *= 3
	}
}

func (d *Daemon) email(a Alert) error {
	e := d.Config.Alerts.Email
	host, _, _ := strings.Cut(e.SMTP, ":")
	var auth smtp.Auth
	if e.Username != "" {
		pw, err := os.ReadFile(e.PasswordFile)
		if err != nil {
			return err
		}
		auth = smtp.PlainAuth("", e.Username, strings.TrimSpace(string(pw)), host)
	}
	state := strings.ToUpper(string(a.Severity))
	if a.Resolved {
		state = "RESOLVED"
	}
	msg := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: [Shoebox %s] %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
		e.From, strings.Join(e.To, ", "), state, a.Subject, a.Message)
	return smtp.SendMail(e.SMTP, auth, e.From, e.To, []byte(msg))
}
