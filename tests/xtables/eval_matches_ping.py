import socket, struct, sys, time
dst, n, gap = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b)//2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
for i in range(n):
    h = struct.pack('!BBHHH', 8, 0, 0, 77, i) + b'x' * 8
    h = h[:2] + struct.pack('!H', csum(h)) + h[4:]
    s.sendto(h, (dst, 0))
    time.sleep(gap)
time.sleep(0.2)
