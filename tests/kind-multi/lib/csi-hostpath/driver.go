package main

import (
	"context"
	"errors"
	"log"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// driver serves the CSI Identity and Controller services for the volumes of one node. The
// external-provisioner and csi-snapshotter beside it run in node-deployment mode, so every
// controller call it gets concerns its own node.
type driver struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedControllerServer
	name, version, nodeID string
	store                 *store
}

// topologyKey labels each Node with itself (kubelet copies NodeGetInfo's segments to Node labels), so
// a volume's PV gets node affinity to the node that holds its directory.
const topologyKey = "topology.hostpath.csi.pgfed.io/node"

const defaultCapacity = 1 << 30

func (d *driver) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: d.name, VendorVersion: d.version}, nil
}

func (d *driver) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	return &csi.GetPluginCapabilitiesResponse{Capabilities: mapAll(func(c csi.PluginCapability_Service_Type) *csi.PluginCapability {
		return &csi.PluginCapability{Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{Type: c}}}
	}, csi.PluginCapability_Service_CONTROLLER_SERVICE, csi.PluginCapability_Service_VOLUME_ACCESSIBILITY_CONSTRAINTS)}, nil
}

func (d *driver) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{Ready: wrapperspb.Bool(true)}, nil
}

func (d *driver) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: mapAll(func(c csi.ControllerServiceCapability_RPC_Type) *csi.ControllerServiceCapability {
		return &csi.ControllerServiceCapability{Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: c}}}
	}, csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
		csi.ControllerServiceCapability_RPC_CLONE_VOLUME)}, nil
}

// mapAll applies f to each of in.
func mapAll[T, U any](f func(T) U, in ...T) []U {
	out := make([]U, 0, len(in))
	for _, v := range in {
		out = append(out, f(v))
	}
	return out
}

// checkCapabilities accepts file-system volumes used from one node: the files live on one node.
func checkCapabilities(caps []*csi.VolumeCapability) error {
	if len(caps) == 0 {
		return errors.New("no volume capabilities")
	}
	for _, c := range caps {
		if c.GetMount() == nil {
			return errors.New("only file-system (mount) volumes are supported")
		}
		switch c.GetAccessMode().GetMode() {
		case csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER,
			csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY,
			csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER,
			csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER:
		default:
			return errors.New("only single-node access modes are supported: volumes are node-local")
		}
	}
	return nil
}

// onThisNode tells whether the topology requirement admits this node (no requirement admits any).
func (d *driver) onThisNode(req *csi.TopologyRequirement) bool {
	terms := req.GetRequisite()
	if len(terms) == 0 {
		terms = req.GetPreferred()
	}
	if len(terms) == 0 {
		return true
	}
	for _, t := range terms {
		if t.GetSegments()[topologyKey] == d.nodeID {
			return true
		}
	}
	return false
}

func (d *driver) topology() []*csi.Topology {
	return []*csi.Topology{{Segments: map[string]string{topologyKey: d.nodeID}}}
}

func (d *driver) CreateVolume(_ context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name is required")
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if !d.onThisNode(req.GetAccessibilityRequirements()) {
		// The provisioner asks the scheduler to pick another node on ResourceExhausted.
		return nil, status.Errorf(codes.ResourceExhausted, "topology requirement excludes node %s", d.nodeID)
	}
	capacity := req.GetCapacityRange().GetRequiredBytes()
	if capacity == 0 {
		capacity = req.GetCapacityRange().GetLimitBytes()
	}
	if capacity == 0 {
		capacity = defaultCapacity
	}
	src := req.GetVolumeContentSource()
	fromSnapshot, fromVolume := src.GetSnapshot().GetSnapshotId(), src.GetVolume().GetVolumeId()
	rec, err := d.store.CreateVolume(req.GetName(), capacity, fromSnapshot, fromVolume)
	if err != nil {
		return nil, storeStatus(err)
	}
	log.Printf("volume %s: %d bytes, from snapshot %q, from volume %q", req.GetName(), rec.CapacityBytes, fromSnapshot, fromVolume)
	return &csi.CreateVolumeResponse{Volume: &csi.Volume{
		VolumeId:           req.GetName(),
		CapacityBytes:      rec.CapacityBytes,
		ContentSource:      src,
		AccessibleTopology: d.topology(),
	}}, nil
}

func (d *driver) DeleteVolume(_ context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	if err := d.store.DeleteVolume(req.GetVolumeId()); err != nil {
		return nil, storeStatus(err)
	}
	log.Printf("volume %s deleted", req.GetVolumeId())
	return &csi.DeleteVolumeResponse{}, nil
}

func (d *driver) ValidateVolumeCapabilities(_ context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	if _, err := d.store.Volume(req.GetVolumeId()); err != nil {
		return nil, storeStatus(err)
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: err.Error()}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext: req.GetVolumeContext(), VolumeCapabilities: req.GetVolumeCapabilities(), Parameters: req.GetParameters(),
	}}, nil
}

func (d *driver) CreateSnapshot(_ context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	if req.GetName() == "" || req.GetSourceVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "name and source_volume_id are required")
	}
	rec, err := d.store.CreateSnapshot(req.GetName(), req.GetSourceVolumeId())
	if err != nil {
		return nil, storeStatus(err)
	}
	log.Printf("snapshot %s of volume %s: %d bytes copied", req.GetName(), rec.SourceVolume, rec.CopiedBytes)
	return &csi.CreateSnapshotResponse{Snapshot: snapshotOf(req.GetName(), rec)}, nil
}

func snapshotOf(id string, rec snapshotRecord) *csi.Snapshot {
	return &csi.Snapshot{
		SnapshotId:     id,
		SourceVolumeId: rec.SourceVolume,
		SizeBytes:      rec.SizeBytes,
		CreationTime:   timestamppb.New(timeFromUnixNano(rec.CreatedUnixNano)),
		// The copy is complete when CreateSnapshot returns.
		ReadyToUse: true,
	}
}

func (d *driver) DeleteSnapshot(_ context.Context, req *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	if err := d.store.DeleteSnapshot(req.GetSnapshotId()); err != nil {
		return nil, storeStatus(err)
	}
	log.Printf("snapshot %s deleted", req.GetSnapshotId())
	return &csi.DeleteSnapshotResponse{}, nil
}

// storeStatus maps store errors to the gRPC codes CSI callers act on.
func storeStatus(err error) error {
	switch {
	case errors.Is(err, errBadID):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, errNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, errConflict):
		return status.Error(codes.AlreadyExists, err.Error())
	default:
		return status.Error(codes.Internal, err.Error())
	}
}
