// csi-hostpath is a small CSI driver for node-local directory volumes with snapshots, for the local
// test environment of tests/kind-multi (where the upstream hostpath driver cannot be built: see the
// README there). One instance per node serves the CSI Identity, Controller and Node services on one
// socket, with the upstream external-provisioner and csi-snapshotter beside it in node-deployment
// mode, and registers itself with its node's kubelet through the kubelet plugin registration protocol
// (the job node-driver-registrar does upstream).
//
// Volumes are directories under -data-dir; a snapshot is a copy of a volume's directory on the same
// node, and a volume created from it is a copy of that copy, so a snapshot can be restored on the node
// that holds it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// version is the driver's vendor version; the image build sets it to a hash of this source.
var version = "dev"

func main() {
	name := flag.String("driver-name", "hostpath.csi.pgfed.io", "CSI driver name (the CSIDriver object's and the StorageClass provisioner's)")
	endpoint := flag.String("endpoint", "/csi/csi.sock", "unix socket to serve CSI on")
	kubeletEndpoint := flag.String("kubelet-endpoint", "", "the same socket's path as the kubelet sees it (on the host)")
	registrationDir := flag.String("registration-dir", "", "the kubelet's plugins_registry directory; empty: do not register")
	socketGroup := flag.Int("socket-group", -1, "group owning the CSI socket (mode 0660), so non-root sidecars can use it; -1: root only")
	nodeID := flag.String("node-id", os.Getenv("NODE_NAME"), "this node's name")
	dataDir := flag.String("data-dir", "/csi-data", "directory holding this node's volumes and snapshots")
	probe := flag.Bool("probe", false, "call Probe on -endpoint and exit 0 if the driver is ready (a liveness check)")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)

	if *probe {
		if err := probeEndpoint(*endpoint); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if *nodeID == "" {
		log.Fatal("-node-id (or NODE_NAME) is required")
	}
	if *registrationDir != "" && *kubeletEndpoint == "" {
		log.Fatal("-kubelet-endpoint is required with -registration-dir")
	}
	st, err := newStore(*dataDir)
	if err != nil {
		log.Fatalf("data dir %s: %v", *dataDir, err)
	}
	d := &driver{name: *name, version: version, nodeID: *nodeID, store: st}

	csiSrv := grpc.NewServer(grpc.UnaryInterceptor(logErrors))
	csi.RegisterIdentityServer(csiSrv, d)
	csi.RegisterControllerServer(csiSrv, d)
	csi.RegisterNodeServer(csiSrv, &node{d: d})
	csiLis, err := listenUnix(*endpoint, *socketGroup)
	if err != nil {
		log.Fatal(err)
	}
	go serve(csiSrv, csiLis, "CSI")
	log.Printf("%s %s on node %s: CSI on %s, data in %s", *name, version, *nodeID, *endpoint, *dataDir)

	var regSrv *grpc.Server
	var regSock string
	if *registrationDir != "" {
		regSock = filepath.Join(*registrationDir, *name+"-reg.sock")
		regSrv = grpc.NewServer()
		registerapi.RegisterRegistrationServer(regSrv, &registration{name: *name, endpoint: *kubeletEndpoint})
		regLis, err := listenUnix(regSock, -1)
		if err != nil {
			log.Fatal(err)
		}
		go serve(regSrv, regLis, "registration")
		log.Printf("registration socket %s (kubelet dials %s)", regSock, *kubeletEndpoint)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	// Without the registration socket the kubelet unregisters the driver until the next instance
	// registers again, as it does when node-driver-registrar stops.
	if regSrv != nil {
		regSrv.Stop()
		_ = os.Remove(regSock)
	}
	csiSrv.GracefulStop()
}

// listenUnix listens on path, replacing a socket a previous instance left behind.
func listenUnix(path string, group int) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	lis, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if group >= 0 {
		if err := os.Chown(path, 0, group); err != nil {
			return nil, err
		}
		if err := os.Chmod(path, 0o660); err != nil {
			return nil, err
		}
	}
	return lis, nil
}

func serve(s *grpc.Server, lis net.Listener, what string) {
	if err := s.Serve(lis); err != nil {
		log.Fatalf("%s server: %v", what, err)
	}
}

// logErrors logs failed calls: the sidecars report them as events, but the driver's log then tells
// the whole story of a volume.
func logErrors(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	if err != nil {
		log.Printf("%s: %v", info.FullMethod, err)
	}
	return resp, err
}

// registration answers the kubelet's plugin watcher, which finds the socket in plugins_registry.
type registration struct {
	registerapi.UnimplementedRegistrationServer
	name, endpoint string
}

func (r *registration) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              r.name,
		Endpoint:          r.endpoint,
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

func (r *registration) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if !s.PluginRegistered {
		// Exit so the kubelet restarts the container and the registration is tried afresh.
		log.Fatalf("kubelet refused the registration: %s", s.Error)
	}
	log.Printf("registered with the kubelet")
	return &registerapi.RegistrationStatusResponse{}, nil
}

func probeEndpoint(endpoint string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := csi.NewIdentityClient(conn).Probe(ctx, &csi.ProbeRequest{})
	if err != nil {
		return err
	}
	if r := resp.GetReady(); r != nil && !r.GetValue() {
		return errors.New("driver not ready")
	}
	return nil
}

func timeFromUnixNano(ns int64) time.Time { return time.Unix(0, ns) }
