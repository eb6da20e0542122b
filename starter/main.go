// Command starter is AIR's command-line client for analysts and SOC leads:
// ingest alerts, list incidents and actions, approve or reject. It talks to
// the worker's HTTP API at AIR_URL (default http://127.0.0.1:8080).
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/airsoc/air/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	code := cli.Run(ctx, cli.Env{BaseURL: os.Getenv("AIR_URL"), Stdout: os.Stdout, Stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}
