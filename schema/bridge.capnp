# redox-bridge wire contract, protocol major 1.
#
# Framing: one stream per guest (vsock, unix or tcp). Every frame is one standard Cap'n Proto
# message in the stream encoding (u32 segmentCount-1, u32 size of each segment in words, padding
# to 8 bytes, then the segments), whose root is `Message`. Decoders check the segment count and
# the total size against `frameMax` before they allocate (see schema/frame.h).
#
# Conversation:
#   1. Both sides send `hello` first. A side that receives an unknown `major` sends `goodbye`
#      naming both versions and closes.
#   2. The host sends `request`s; the guest answers each with one `response` carrying the same
#      id. Requests are pipelined and may be answered out of order. `cancel` asks the guest to
#      drop a request it has not started; the guest then answers it with `canceled`.
#   3. The guest may send `event`s at any time after its hello.
# Errors are `Errno` values defined here, never a host's or guest's numbering: each side maps
# them at its edge (schema/errno_map.h).
#
# Bulk data travels inline (`Data` up to `inlineDataMax`) or, when the hello announced a shared
# region, as a `RegionRef` into it. The host allocates every region range for both directions:
# the guest only writes where a request told it to, and the host only reads ranges it allocated.
#
# Evolution: add fields and union members at the end only; never renumber. A minor bump adds,
# a major bump breaks.

@0xce7e3be142b08f60;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("bridge::wire");

const protocolMajor :UInt16 = 1;
const protocolMinor :UInt16 = 0;

# Hard limits. A frame above frameMax is a protocol violation and ends the connection.
const frameMax :UInt32 = 4194304;        # 4 MiB
const segmentsMax :UInt32 = 64;
const inlineDataMax :UInt32 = 1048576;   # 1 MiB of payload per read/write
const componentBytesMax :UInt32 = 255;   # bytes in one path component
const pathComponentsMax :UInt32 = 256;
const readdirEntriesMax :UInt32 = 1024;
const subvolumesMax :UInt32 = 4096;      # entries in one subvolume list

# The vsock port the guest dials on the host (CID 2).
const vsockPort :UInt32 = 5151;

enum Errno {
  ok @0;
  perm @1;          # EPERM
  noent @2;         # ENOENT
  io @3;            # EIO
  badf @4;          # EBADF
  nomem @5;         # ENOMEM
  acces @6;         # EACCES
  busy @7;          # EBUSY
  exist @8;         # EEXIST
  xdev @9;          # EXDEV
  notdir @10;       # ENOTDIR
  isdir @11;        # EISDIR
  inval @12;        # EINVAL
  fbig @13;         # EFBIG
  nospc @14;        # ENOSPC
  rofs @15;         # EROFS
  mlink @16;        # EMLINK
  range @17;        # ERANGE
  nametoolong @18;  # ENAMETOOLONG
  nosys @19;        # ENOSYS
  notempty @20;     # ENOTEMPTY
  loop @21;         # ELOOP
  nodata @22;       # ENODATA (no such xattr)
  overflow @23;     # EOVERFLOW
  notsup @24;       # EOPNOTSUPP
  timedout @25;     # ETIMEDOUT
  stale @26;        # ESTALE (handle from an earlier guest session)
  canceled @27;     # ECANCELED
  proto @28;        # EPROTO (malformed request)
  toobig @29;       # E2BIG
  again @30;        # EAGAIN
  nodev @31;        # ENODEV
  fault @32;        # EFAULT (region range outside what the host allocated)
}

# ---------------------------------------------------------------------------------------------
# Envelope

struct Message {
  union {
    hello @0 :Hello;
    request @1 :Request;
    response @2 :Response;
    cancel @3 :Cancel;
    event @4 :Event;
    goodbye @5 :Goodbye;
  }
}

struct Hello {
  major @0 :UInt16;
  minor @1 :UInt16;
  role @2 :Role;
  name @3 :Text;               # guest name ("fsvm"); host name for the host side
  exports @4 :List(Export);    # guest: what it serves; control clients get the host's schemes
  region @5 :RegionInfo;       # size 0: no shared region
  maxInflight @6 :UInt32;      # requests the sender accepts at once (0: unspecified)
  bootId @7 :UInt64;           # random per process start; changes when the guest restarts

  enum Role {
    guest @0;
    host @1;
    control @2;                # bridgectl talking to bridge-host
  }
}

struct Goodbye {
  reason @0 :Text;
}

struct Export {
  name @0 :Text;               # scheme name: "ext4", "btrfs", "display.bochs"
  kind @1 :Kind;
  engine @2 :Text;             # "ext2fs", "mount", "btrfs", "drm"
  readOnly @3 :Bool;
  capabilities @4 :UInt64;     # bit set of Capability ordinals
  online @5 :Bool = true;      # for control clients: is the guest behind it connected
  guest @6 :Text;              # for control clients: the guest serving it
  note @7 :Text;               # human-readable state ("journal needs recovery: read-only")

  enum Kind {
    filesystem @0;
    display @1;
  }
  enum Capability {
    xattr @0;
    subvolumes @1;
    hardlinks @2;
    symlinks @3;
    region @4;
  }
}

struct RegionInfo {
  size @0 :UInt64;
  # The first 8 bytes of the region, which the host fills with a random value when it makes the
  # region (and never lends out). The host sends what it wrote, the guest what it reads from its
  # own mapping: equal sizes alone do not prove both map the same memory (a QEMU started on a
  # replaced backing file maps a different file of the same size).
  token @1 :UInt64;
}

struct RegionRef {
  offset @0 :UInt64;
  length @1 :UInt64;
}

# Bytes either inline or in the shared region.
struct Payload {
  union {
    inline @0 :Data;
    region @1 :RegionRef;
  }
}

struct Cancel {
  id @0 :UInt64;
}

# ---------------------------------------------------------------------------------------------
# Requests

# A path relative to the export root, one component per element. Components are validated at the
# receiving edge: not empty, not "." or "..", no "/" or NUL, at most componentBytesMax bytes.
using Path = List(Text);

struct Creds {
  uid @0 :UInt32;
  gid @1 :UInt32;
}

struct Request {
  id @0 :UInt64;
  export @1 :UInt16;           # index into the guest's hello exports
  creds @2 :Creds;             # who asked (owner of files it creates)
  op :union {
    getattr @3 :GetattrReq;
    setattr @4 :SetattrReq;
    open @5 :OpenReq;
    create @6 :OpenReq;         # open with create implied
    read @7 :ReadReq;
    write @8 :WriteReq;
    close @9 :HandleReq;
    fsync @10 :FsyncReq;
    readdir @11 :ReaddirReq;
    mkdir @12 :MkdirReq;
    unlink @13 :PathReq;
    rmdir @14 :PathReq;
    rename @15 :RenameReq;
    symlink @16 :SymlinkReq;
    readlink @17 :PathReq;
    link @18 :LinkReq;
    statfs @19 :PathReq;
    getxattr @20 :XattrReq;
    setxattr @21 :XattrReq;
    listxattr @22 :PathReq;
    removexattr @23 :XattrReq;
    subvol @24 :SubvolReq;       # btrfs exports
    drm @25 :DrmReq;             # display exports
    ping @26 :Void;
  }
}

struct Handle {
  # Opaque to the host: the guest's table index and generation, tagged with the guest's bootId
  # so a handle from an earlier guest session is refused with `stale`.
  value @0 :UInt64;
}

struct PathReq { path @0 :Path; }
struct HandleReq { handle @0 :Handle; }

struct GetattrReq {
  union {
    path @0 :Path;
    handle @1 :Handle;
  }
  follow @2 :Bool;             # follow a final symlink (stat vs lstat)
}

struct Timestamp {
  sec @0 :Int64;
  nsec @1 :UInt32;
}

struct TimeSet {
  union {
    omit @0 :Void;
    now @1 :Void;
    at @2 :Timestamp;
  }
}

struct SetattrReq {
  union {
    path @0 :Path;
    handle @1 :Handle;
  }
  setMode @2 :Bool;
  mode @3 :UInt32;             # permission bits only
  setUid @4 :Bool;
  uid @5 :UInt32;
  setGid @6 :Bool;
  gid @7 :UInt32;
  setSize @8 :Bool;            # truncate/extend
  size @9 :UInt64;
  atime @10 :TimeSet;
  mtime @11 :TimeSet;
}

struct OpenFlags {
  read @0 :Bool;
  write @1 :Bool;
  append @2 :Bool;
  truncate @3 :Bool;
  create @4 :Bool;
  exclusive @5 :Bool;
  directory @6 :Bool;
  noFollow @7 :Bool;
}

struct OpenReq {
  path @0 :Path;
  flags @1 :OpenFlags;
  mode @2 :UInt32;             # for create
}

struct ReadReq {
  handle @0 :Handle;
  offset @1 :UInt64;
  length @2 :UInt32;
  into @3 :RegionRef;          # length 0: answer inline
}

struct WriteReq {
  handle @0 :Handle;
  offset @1 :UInt64;
  data @2 :Payload;
}

struct FsyncReq {
  handle @0 :Handle;
  dataOnly @1 :Bool;
}

struct ReaddirReq {
  path @0 :Path;
  cookie @1 :UInt64;           # 0: from the start; else nextCookie of the previous page
  maxEntries @2 :UInt32;
  withAttrs @3 :Bool;
}

struct MkdirReq {
  path @0 :Path;
  mode @1 :UInt32;
}

struct RenameReq {
  from @0 :Path;
  to @1 :Path;
  noReplace @2 :Bool;
  exchange @3 :Bool;
}

struct SymlinkReq {
  path @0 :Path;
  target @1 :Text;             # stored as given; resolved inside the export when followed
}

struct LinkReq {
  existing @0 :Path;
  newPath @1 :Path;
}

struct XattrReq {
  path @0 :Path;
  name @1 :Text;
  value @2 :Data;              # setxattr only
  createOnly @3 :Bool;         # setxattr: XATTR_CREATE
  replaceOnly @4 :Bool;        # setxattr: XATTR_REPLACE
}

# btrfs subvolumes (issue: btrfs scheme). Paths are relative to the export root.
struct SubvolReq {
  union {
    list @0 :Void;
    create @1 :Path;
    snapshot @2 :SnapshotReq;
    delete @3 :Path;
    getDefault @4 :Void;
    setDefault @5 :Path;
    getReadOnly @6 :Path;
    setReadOnly @7 :SetReadOnlyReq;
  }
}

struct SnapshotReq {
  source @0 :Path;
  dest @1 :Path;
  readOnly @2 :Bool;
}

struct SetReadOnlyReq {
  path @0 :Path;
  readOnly @1 :Bool;
}

# DRM (display exports). Ids are the guest driver's object ids; the host treats them as opaque
# and checks them only against what the guest listed. Pixels never travel in these messages:
# the host keeps a shadow of each framebuffer in the shared region and names the range
# (`pixels`, with the shadow's own `pitch`); the guest copies the damaged rectangles from there
# into its dumb buffer. Every rectangle is clipped by the guest against the framebuffer, and
# every range is checked against the region before it is touched.
struct DrmReq {
  union {
    getCaps @0 :Void;
    getResources @1 :Void;
    getConnector @2 :UInt32;
    createDumb @3 :DumbReq;
    destroyDumb @4 :UInt32;            # dumb buffer handle
    addFramebuffer @5 :FramebufferReq;
    removeFramebuffer @6 :UInt32;
    setCrtc @7 :SetCrtcReq;            # modeset; framebuffer 0 disables the CRTC
    dirty @8 :DirtyReq;
    pageFlip @9 :PageFlipReq;          # answered at once; completion is Event.flipDone
    setCursor @10 :CursorReq;
    getCrtc @11 :UInt32;
    getPlanes @12 :Void;
    requestVblank @13 :VblankReq;      # one Event.vblank at the next vblank (ENOTSUP if none)
    moveCursor @14 :CursorMove;
  }
}

struct DumbReq { width @0 :UInt32; height @1 :UInt32; bpp @2 :UInt32; }
struct FramebufferReq {
  width @0 :UInt32; height @1 :UInt32;
  format @2 :UInt32;           # DRM fourcc (XRGB8888 = 0x34325258)
  handle @3 :UInt32; pitch @4 :UInt32;
}
struct SetCrtcReq {
  crtc @0 :UInt32; framebuffer @1 :UInt32; x @2 :UInt32; y @3 :UInt32;
  connectors @4 :List(UInt32); mode @5 :DrmMode;
}
struct Rect { x @0 :UInt32; y @1 :UInt32; width @2 :UInt32; height @3 :UInt32; }
struct DirtyReq {
  framebuffer @0 :UInt32;
  rects @1 :List(Rect);        # empty: the whole framebuffer
  pixels @2 :RegionRef;        # the host's shadow of this framebuffer
  pitch @3 :UInt32;            # bytes per row in the shadow
}
struct PageFlipReq {
  crtc @0 :UInt32; framebuffer @1 :UInt32; cookie @2 :UInt64;
  rects @3 :List(Rect);        # damage since this framebuffer was last shown; empty: all of it
  pixels @4 :RegionRef;        # the shadow of `framebuffer`, copied before the flip
  pitch @5 :UInt32;
}
struct CursorReq {
  crtc @0 :UInt32;
  width @1 :UInt32; height @2 :UInt32;   # 0 x 0 hides the cursor
  hotX @3 :Int32; hotY @4 :Int32;
  pixels @5 :RegionRef;        # ARGB8888, width * 4 bytes per row
}
struct CursorMove { crtc @0 :UInt32; x @1 :Int32; y @2 :Int32; }
struct VblankReq { crtc @0 :UInt32; cookie @1 :UInt64; }
struct DrmMode {
  name @0 :Text; clock @1 :UInt32;
  hdisplay @2 :UInt16; hsyncStart @3 :UInt16; hsyncEnd @4 :UInt16; htotal @5 :UInt16;
  vdisplay @6 :UInt16; vsyncStart @7 :UInt16; vsyncEnd @8 :UInt16; vtotal @9 :UInt16;
  vrefresh @10 :UInt32; flags @11 :UInt32; type @12 :UInt32;
}

# ---------------------------------------------------------------------------------------------
# Responses

struct Attr {
  ino @0 :UInt64;
  mode @1 :UInt32;             # type and permission bits, Linux S_IF* encoding
  nlink @2 :UInt32;
  uid @3 :UInt32;
  gid @4 :UInt32;
  size @5 :UInt64;
  blocks @6 :UInt64;           # 512-byte units
  blksize @7 :UInt32;
  rdev @8 :UInt64;
  atime @9 :Timestamp;
  mtime @10 :Timestamp;
  ctime @11 :Timestamp;
}

struct DirEntry {
  name @0 :Text;
  ino @1 :UInt64;
  type @2 :UInt8;              # DT_* value
  attr @3 :Attr;               # when withAttrs
}

struct StatFs {
  blockSize @0 :UInt32;
  fragmentSize @1 :UInt32;
  blocks @2 :UInt64;
  blocksFree @3 :UInt64;
  blocksAvailable @4 :UInt64;
  files @5 :UInt64;
  filesFree @6 :UInt64;
  nameMax @7 :UInt32;
}

struct Response {
  id @0 :UInt64;
  result :union {
    error @1 :Errno;
    done @2 :Void;
    attr @3 :Attr;
    opened @4 :Opened;
    data @5 :Payload;
    written @6 :UInt32;
    entries @7 :DirPage;
    target @8 :Text;           # readlink
    statfs @9 :StatFs;
    xattrValue @10 :Data;
    xattrNames @11 :List(Text);
    subvols @12 :List(Subvolume);
    subvolId @13 :UInt64;
    readOnly @14 :Bool;
    drm @15 :DrmReply;
    pong @16 :Void;
  }
  message @17 :Text;           # optional context for an error, for logs only
}

struct Opened {
  handle @0 :Handle;
  attr @1 :Attr;
}

struct DirPage {
  entries @0 :List(DirEntry);
  nextCookie @1 :UInt64;
  end @2 :Bool;
}

struct Subvolume {
  id @0 :UInt64;
  parentId @1 :UInt64;
  path @2 :Text;               # relative to the export root
  readOnly @3 :Bool;
  generation @4 :UInt64;
  uuid @5 :Data;
  parentUuid @6 :Data;         # origin of a snapshot
}

struct DrmReply {
  union {
    caps @0 :DrmCaps;
    resources @1 :DrmResources;
    connector @2 :DrmConnector;
    dumb @3 :DumbBuffer;
    framebuffer @4 :UInt32;
    done @5 :Void;
    crtc @6 :DrmCrtc;
    planes @7 :List(DrmPlane);
  }
}
struct DrmCaps {
  driver @0 :Text;             # kernel driver name: "bochs-drm", "virtio_gpu"
  dumbBuffer @1 :Bool; cursorWidth @2 :UInt32; cursorHeight @3 :UInt32; asyncFlip @4 :Bool;
  vblank @5 :Bool;             # the driver delivers real vblank events
  description @6 :Text;
  preferredDepth @7 :UInt32;
}
struct DrmResources { crtcs @0 :List(UInt32); connectors @1 :List(UInt32);
                      encoders @2 :List(UInt32); planes @3 :List(UInt32);
                      minWidth @4 :UInt32; maxWidth @5 :UInt32;
                      minHeight @6 :UInt32; maxHeight @7 :UInt32;
                      framebuffers @8 :List(UInt32); }
struct DrmConnector { id @0 :UInt32; type @1 :UInt32; connected @2 :Bool;
                      modes @3 :List(DrmMode); widthMm @4 :UInt32; heightMm @5 :UInt32;
                      name @6 :Text;             # "Virtual-1"
                      encoder @7 :UInt32; possibleCrtcs @8 :UInt32; }
struct DumbBuffer { handle @0 :UInt32; pitch @1 :UInt32; size @2 :UInt64;
                    pixels @3 :RegionRef; }      # unused: dumb buffers live in the guest
struct DrmCrtc { id @0 :UInt32; framebuffer @1 :UInt32; x @2 :UInt32; y @3 :UInt32;
                 modeValid @4 :Bool; mode @5 :DrmMode; }
struct DrmPlane { id @0 :UInt32; possibleCrtcs @1 :UInt32; crtc @2 :UInt32;
                  framebuffer @3 :UInt32; formats @4 :List(UInt32);
                  type @5 :UInt32; }             # DRM_PLANE_TYPE_*: 0 overlay, 1 primary, 2 cursor

# ---------------------------------------------------------------------------------------------
# Events (guest to host, unsolicited)

struct Event {
  union {
    exportGone @0 :Text;        # export name
    exportAdded @1 :Export;
    hotplug @2 :UInt32;         # connector id whose status changed
    vblank @3 :VblankEvent;
    flipDone @4 :VblankEvent;
  }
  export @5 :UInt16;            # hotplug, vblank, flipDone: index into the hello exports
}

struct VblankEvent {
  crtc @0 :UInt32;
  sequence @1 :UInt64;
  timestampNs @2 :UInt64;
  cookie @3 :UInt64;           # PageFlipReq.cookie or VblankReq.cookie
}
