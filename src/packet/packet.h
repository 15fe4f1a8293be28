// Packet: the bytes of one IPv4 datagram plus the metadata that travels
// beside them through a host, like the kernel's sk_buff.
//
// data() starts at the IPv4 header. The Ethernet header, when the packet
// came from or goes to a link, sits in the headroom right before it, so
// frame() is contiguous without a copy (as skb_mac_header). The buffer's
// capacity is kept across assign() and resize(): a replay loop that reuses
// one Packet allocates nothing per packet.
//
//   Packet p(bytes);                         // copy an IPv4 datagram in
//   p.meta.in.set("eth0");
//   p.meta.hook = Hook::PreRouting;
//   if (auto ip = parse_ipv4(p.data())) ...  // validate once, then p.ip()
//   p.set_mac_header({dst, src});
//   pcap.write(ts_us, p.frame());
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "packet/ethernet.h"
#include "packet/headers.h"

namespace nfemu::packet {

// Netfilter hooks, numbered as NF_INET_*.
enum class Hook : uint8_t { PreRouting = 0, LocalIn = 1, Forward = 2, LocalOut = 3, PostRouting = 4, None = 0xff };
std::string_view to_string(Hook h);  // "PREROUTING", "INPUT", ...

// The socket a locally generated packet carries (skb->sk), as the owner
// match (skb_to_full_sk) and LOG/TRACE's UID= (nf_log_dump_sk_uid_gid,
// full sockets with a file only) see it.
enum class SockKind : uint8_t {
  None,     // forwarded, received, or built without a socket (REJECT's RST)
  Control,  // a kernel control socket (ICMP, RST without a listener): exists, no file, no owner
  Request,  // a listener's request sock (SYN-ACK): owner sees the listener, LOG no full socket
  Full,     // a user socket with a file (uid 0, gid 0: see PacketMeta::sk)
  // An established connection's socket still in its listener's accept
  // queue (nfemu's hosts, like `nfemu verify`'s listeners, accept none):
  // a full socket, so cgroup sees it, but without a file, so LOG prints
  // no UID. Received segments get it from early demux.
  Unaccepted,
};

// Connection tracking state of a packet, numbered as enum ip_conntrack_info.
enum class CtInfo : uint8_t {
  Established = 0,
  Related = 1,
  New = 2,
  EstablishedReply = 3,
  RelatedReply = 4,
  Untracked = 7,
};

// An interface name as Linux stores it: at most 15 bytes, inline, so that
// copying metadata never allocates. Longer names are cut (the scenario
// loader refuses them first). The bytes past the name are always zero:
// two names compare as two 64-bit words (the observers of a replay compare
// names several times per packet; memcmp calls showed in profiles).
class IfName {
 public:
  static constexpr size_t kMax = 15;  // IFNAMSIZ - 1
  IfName() = default;
  IfName(std::string_view s) { set(s); }  // NOLINT: implicit from text
  // A packet's path sets names several times: two overlapping loads of the
  // name's head and tail instead of a loop per byte (callgrind: 92 of the
  // fw replay's instructions per frame), reading only the name's bytes.
  // The two words are assembled in registers and stored once, length
  // included: storing the halves into a buffer and copying that out made
  // the copy's wide load wait for two narrower stores (a store-forwarding
  // stall, most of receive_frame's samples in perf).
  void set(std::string_view s) {
    static_assert(std::endian::native == std::endian::little, "byte k of a word is bits 8k..8k+7");
    static_assert(offsetof(IfName, len_) == kMax, "len_ is the 16th byte");
    size_t n = s.size() < kMax ? s.size() : kMax;
    const char* p = s.data();
    uint64_t w[2] = {0, 0};
    if (n >= 8) {
      uint64_t tail;
      std::memcpy(&w[0], p, 8);
      std::memcpy(&tail, p + n - 8, 8);  // bytes n-8..n-1; 8..n-1 are its top n-8
      if (n > 8) w[1] = tail >> (8 * (16 - n));
    } else if (n >= 4) {
      uint32_t head, tail;
      std::memcpy(&head, p, 4);
      std::memcpy(&tail, p + n - 4, 4);  // bytes n-4..n-1; 4..n-1 are its top n-4
      w[0] = head | (uint64_t{tail} >> (8 * (8 - n))) << 32;
    } else if (n > 0) {
      auto byte = [&](size_t i) { return uint64_t{static_cast<uint8_t>(p[i])} << (8 * i); };
      w[0] = byte(0) | byte(n / 2) | byte(n - 1);
    }
    w[1] |= uint64_t{n} << 56;  // len_, the 16th byte
    std::memcpy(static_cast<void*>(this), w, sizeof w);
  }
  std::string_view view() const { return {buf_, len_}; }
  bool empty() const { return len_ == 0; }
  bool operator==(const IfName& o) const {
    uint64_t a[2], b[2];
    std::memcpy(a, this, sizeof a);
    std::memcpy(b, &o, sizeof b);
    return ((a[0] ^ b[0]) | (a[1] ^ b[1])) == 0;
  }

 private:
  char buf_[kMax] = {};
  uint8_t len_ = 0;
};
static_assert(sizeof(IfName) == 16);

struct PacketMeta {
  IfName in;   // empty when locally generated
  IfName out;  // empty until routed
  uint32_t mark = 0;
  // skb->priority, which CLASSIFY sets; only qdiscs read it and nfemu has
  // none yet. Beside mark so that the metadata stays one cache line.
  uint32_t priority = 0;
  void* ct = nullptr;  // the conntrack entry, owned and typed by conntrack/
  CtInfo ctinfo = CtInfo::New;  // meaningful only when ct is set
  bool trace : 1 = false;  // set by the TRACE target
  // skb->ip_summed == CHECKSUM_PARTIAL: the TCP or UDP checksum field holds
  // only the pseudo-header's sum, for the sender's NIC (TSO, checksum
  // offload) to complete. Captures show it so: a datagram from a local
  // socket, a TSO send passed on by a veth, a GRO aggregate. Checks take it
  // as good (nf_ip_checksum, skb_csum_unnecessary); NAT updates only the
  // pseudo-header's part of it (inet_proto_csum_replace4).
  bool csum_partial : 1 = false;
  Hook hook = Hook::None;       // the hook being traversed
  // skb->sk. Every socket nfemu models belongs to root (the harness's raw
  // sockets, the listeners): a Request or Full socket is uid 0, gid 0.
  SockKind sk = SockKind::None;
  // IPCB(skb)->frag_max_size: the largest fragment of a datagram that
  // defrag rebuilt; output fragments it again to that size. 0 otherwise.
  uint16_t frag_max_size = 0;
  // Non-zero for a datagram that a capture had cut (its snaplen) and that
  // replay filled back to its length with zeros (--fixlen pad): how many of
  // its bytes are real. Its transport checksum, over bytes nobody has, counts
  // as verified, as when a NIC's receive offload checked it
  // (skb->ip_summed = CHECKSUM_UNNECESSARY): see transport_checksum_verified.
  uint16_t captured_len = 0;
  uint64_t tstamp_ns = 0;       // virtual time of arrival or creation

  // Whether checksum checks (conntrack's, REJECT's, the local stack's) must
  // take the transport checksum as good without reading it.
  bool transport_checksum_verified() const { return captured_len != 0 || csum_partial; }
};

class Packet {
 public:
  // Enough for an Ethernet header and later encapsulations.
  static constexpr size_t kHeadroom = 64;

  Packet() = default;
  explicit Packet(std::span<const uint8_t> l3) { assign(l3); }

  // Replaces the datagram bytes; metadata and capacity are kept, the MAC
  // header is dropped. Inline when the buffer is large enough, as for
  // every replayed frame after the first few (always: GCC outlined it from
  // replay's frame loop whenever that loop grew a little).
  [[gnu::always_inline]] void assign(std::span<const uint8_t> l3) {
    // Grown only: a reused Packet neither zero-fills what the copy
    // overwrites nor gives back what a later, larger datagram needs again.
    // Bytes past len_ are never read (resize() zero-fills what it exposes).
    if (buf_.size() < kHeadroom || buf_.size() - kHeadroom < l3.size()) return assign_growing(l3);
    if (!l3.empty()) std::memcpy(buf_.data() + kHeadroom, l3.data(), l3.size());
    len_ = l3.size();
    has_mac_ = false;
  }
  // Grows (zero-filled) or trims the datagram.
  void resize(size_t n);

  std::span<uint8_t> data() { return buf_.empty() ? std::span<uint8_t>() : std::span(buf_.data() + kHeadroom, len_); }
  std::span<const uint8_t> data() const {
    return buf_.empty() ? std::span<const uint8_t>() : std::span(buf_.data() + kHeadroom, len_);
  }
  size_t size() const { return len_; }
  bool empty() const { return len_ == 0; }

  // Views of the IPv4 header without any check: call parse_ipv4 once when
  // the bytes enter the emulator, and use these afterwards.
  Ipv4View ip() { return Ipv4View(data()); }
  ConstIpv4View ip() const { return ConstIpv4View(data()); }

  // Always inlined: the replay loop and the forward path set one per frame,
  // and GCC's size limits left a call (26 instructions a frame) once the
  // callers grew.
  [[gnu::always_inline]] void set_mac_header(const EthernetHeader& h) {
    ensure_buffer();
    write_ethernet(std::span<uint8_t>(buf_.data() + kHeadroom - kEthernetHeader, kEthernetHeader), h);
    has_mac_ = true;
  }
  void clear_mac_header() { has_mac_ = false; }
  bool has_mac_header() const { return has_mac_; }
  EthernetHeader mac_header() const {  // precondition: has_mac_header()
    return read_ethernet(std::span<const uint8_t>(buf_.data() + kHeadroom - kEthernetHeader, kEthernetHeader));
  }
  // Whether the frame came to a broadcast or multicast MAC: its
  // destination's group bit (skb->pkt_type is then not PACKET_HOST). One
  // byte, not the whole header: the forward path asks for every packet.
  bool mac_dst_is_group() const { return has_mac_ && (buf_[kHeadroom - kEthernetHeader] & 1); }
  // The MAC header (if any) followed by the datagram.
  std::span<const uint8_t> frame() const;

  // An Ethernet frame as received from a link or a pcap file: keeps the MAC
  // header, copies the payload. Fails on a frame shorter than 14 bytes.
  static Result<Packet> from_frame(std::span<const uint8_t> frame);

  PacketMeta meta;

 private:
  void ensure_buffer() {
    if (buf_.size() < kHeadroom) grow_headroom();
  }
  void grow_headroom();
  void assign_growing(std::span<const uint8_t> l3);
  std::vector<uint8_t> buf_;  // kHeadroom bytes, then the datagram
  size_t len_ = 0;
  bool has_mac_ = false;
};

}  // namespace nfemu::packet
