// The floor under `nfemu replay`: how fast libpcap alone hands out the
// frames of a capture on this machine (pcap_next_ex and a byte sum, so that
// the data is touched). bench-replay.sh builds it with `c++ -O2 ... -lpcap`.
//
//   pcap-read FILE.pcap   ->   "frames 1000000 seconds 0.012345"
#include <pcap/pcap.h>

#include <chrono>
#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: pcap-read FILE.pcap\n");
    return 2;
  }
  char err[PCAP_ERRBUF_SIZE] = {};
  auto start = std::chrono::steady_clock::now();
  pcap_t* p = pcap_open_offline(argv[1], err);
  if (!p) {
    std::fprintf(stderr, "pcap-read: %s\n", err);
    return 2;
  }
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  unsigned long long frames = 0, sum = 0;
  while (pcap_next_ex(p, &h, &data) == 1) {
    ++frames;
    for (bpf_u_int32 i = 0; i < h->caplen; i += 64) sum += data[i];
  }
  pcap_close(p);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("frames %llu seconds %.6f checksum %llu\n", frames, s, sum);
  return 0;
}
