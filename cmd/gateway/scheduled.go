package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/brazegw/gateway/app"
	"github.com/brazegw/gateway/braze"
)

// scheduled lists upcoming scheduled broadcasts of a workspace
// (GET /messages/scheduled_broadcasts) as JSON.
func scheduled(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scheduled", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML configuration file")
	workspace := fs.String("workspace", "default", "configured workspace to ask")
	until := fs.Duration("within", 7*24*time.Hour, "list broadcasts scheduled from now until now+within")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := app.Load(*configPath, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "gateway scheduled: %v\n", err)
		return 2
	}
	if len(cfg.Braze.Workspaces) == 0 {
		// Dev mode: the simulator started by "gateway run".
		cfg.Braze.Workspaces = map[string]app.Workspace{"default": {URL: "http://" + devBrazeAddr, APIKey: devAPIKey}}
	}
	c, err := app.BrazeClient(cfg, *workspace)
	if err != nil {
		fmt.Fprintf(stderr, "gateway scheduled: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.ScheduledBroadcasts(ctx, time.Now().Add(*until))
	if err != nil {
		fmt.Fprintf(stderr, "gateway scheduled: %v\n", err)
		return 1
	}
	out := struct {
		ScheduledBroadcasts []braze.ScheduledBroadcast `json:"scheduled_broadcasts"`
	}{resp.ScheduledBroadcasts}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return 1
	}
	return 0
}
