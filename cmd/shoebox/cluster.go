package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	pb "github.com/shoebox/shoebox/gateway/gen/shoeboxv1"
)

// clusterOptions are the arguments and flags of cluster and its
// subcommands (docs/CLUSTER.md, "Pairing").
type clusterOptions struct {
	Replace  bool   // offer: open an offer although paired
	Addr     string // pair: the offsite unit's HOST:PORT
	DeviceID string // pair: the device ID the offsite unit shows
	Code     string // pair: the code it offered
}

func cmdCluster(g *globals) *cobra.Command {
	var opts clusterOptions
	c := &cobra.Command{
		Use:   "cluster",
		Short: "Pair this box with its offsite unit, and see the pair (through shoeboxd)",
		Long: `A pair is a home unit (holds the keys, runs the backups) and an offsite unit (a
keyless replica). Run "shoebox cluster offer" on the offsite unit: it prints its
device ID and a one-time code. Then, on the home unit:
"shoebox cluster pair ADDR --device-id ID --code CODE", ADDR being where the home
reaches the offsite unit's cluster listener (HOST:8444). docs/CLUSTER.md.`,
		Args: cobra.NoArgs,
	}
	offer := &cobra.Command{
		Use:   "offer",
		Short: "Offsite unit: print its device ID and a one-time pairing code (15 minutes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runClusterOffer(cmd.Context(), g, opts)
		},
	}
	offer.Flags().BoolVar(&opts.Replace, "replace", false, "offer although paired: the new home unit replaces the old once it uses the code")
	pair := &cobra.Command{
		Use:   "pair ADDR --device-id ID --code CODE",
		Short: "Home unit: pair with the offsite unit at ADDR (HOST:PORT) that showed ID and CODE",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Addr = args[0]
			return runClusterPair(cmd.Context(), g, opts)
		},
	}
	pair.Flags().StringVar(&opts.DeviceID, "device-id", "", "the device ID the offsite unit shows (`shoebox cluster offer` there)")
	pair.Flags().StringVar(&opts.Code, "code", "", "the one-time code the offsite unit offered")
	pair.MarkFlagRequired("device-id")
	pair.MarkFlagRequired("code")
	unpair := &cobra.Command{
		Use:   "unpair",
		Short: "Forget the paired unit; it is refused from its next connection",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCall(cmd.Context(), g, http.MethodPost, "/v1/cluster/unpair", struct{}{}, printClusterStatus)
		},
	}
	status := daemonCmd(g, "status", "This unit's role, device ID and pairing; replication figures", "/v1/cluster", printClusterStatus)
	c.AddCommand(offer, pair, unpair, status)
	return c
}

// runClusterOffer opens a pairing offer on the offsite unit and prints
// what to type on the home unit.
func runClusterOffer(ctx context.Context, g *globals, opts clusterOptions) error {
	return runCall(ctx, g, http.MethodPost, "/v1/cluster/offer", map[string]any{"replace": opts.Replace}, func(g *globals, o *pb.PairingOffer) error {
		fmt.Fprintf(g.stdout, "device ID: %s\ncode:      %s\nexpires:   %s\n", o.DeviceId, o.Code, o.Expires.AsTime().Local().Format("2006-01-02 15:04:05"))
		fmt.Fprintf(g.stdout, "on the home unit: shoebox cluster pair ADDR --device-id %s --code %s\n", o.DeviceId, o.Code)
		return nil
	})
}

// runClusterPair pairs the home unit with the offsite unit.
func runClusterPair(ctx context.Context, g *globals, opts clusterOptions) error {
	body := map[string]any{"addr": opts.Addr, "device_id": opts.DeviceID, "code": opts.Code}
	return runCall(ctx, g, http.MethodPost, "/v1/cluster/pair", body, printClusterStatus)
}

// printClusterStatus prints the unit's side of the pair.
func printClusterStatus(g *globals, st *pb.ClusterStatus) error {
	fmt.Fprintf(g.stdout, "role:      %s\ndevice ID: %s\n", st.Role, st.DeviceId)
	if st.Listen != "" {
		fmt.Fprintf(g.stdout, "listening: %s\n", st.Listen)
	}
	if !st.Paired {
		fmt.Fprintln(g.stdout, "paired:    no")
		return nil
	}
	peer := st.PeerDeviceId
	if st.PeerName != "" {
		peer += " (" + st.PeerName + ")"
	}
	if st.PeerAddr != "" {
		peer += " at " + st.PeerAddr
	}
	fmt.Fprintf(g.stdout, "paired:    with %s since %s, epoch %d\n", peer, st.PairedAt.AsTime().Local().Format(time.DateTime), st.Epoch)
	if !st.Replicating {
		fmt.Fprintln(g.stdout, "replication: not replicating yet")
	}
	return nil
}
