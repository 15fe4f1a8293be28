#!/usr/bin/env bash
# Writes a synthetic, Debian-like gource custom log to stdout: uploads of
# packages (files) in sections (directories) by a few hundred uploaders,
# an upload every ten minutes or so. Deterministic for given arguments.
#   gen-log.sh LINES [SEED]
set -euo pipefail
lines=${1:?usage: gen-log.sh LINES [SEED]}
seed=${2:-1}
awk -v n="$lines" -v seed="$seed" 'BEGIN {
  srand(seed);
  split("admin,comm,database,devel,doc,editors,games,gnome,graphics,interpreters,java,kde,libs,mail,math,misc,net,perl,python,science,shells,sound,text,utils,video,web,x11", sec, ",");
  nsec = length(sec);
  split("main,contrib,non-free", comp, ",");
  t = 946684800;                       # 2000-01-01
  npk = 0;
  for (i = 0; i < n; ) {
    t += int(rand() * 1200) + 1;
    u = "uploader" int(rand() * rand() * 400);
    k = int(rand() * 3) + 1;           # same-time uploads of one person: one commit
    for (j = 0; j < k && i < n; j++) {
      if (npk < 50 || rand() < 0.03) {
        s = sec[int(rand() * rand() * nsec) + 1]; c = comp[(rand() < 0.9) ? 1 : int(rand() * 2) + 2];
        pk[npk] = c "/" s "/pkg" npk; npk++; p = pk[npk - 1]; a = "A";
      } else {
        p = pk[int(npk * (1 - rand() * rand()))]; a = (rand() < 0.01) ? "D" : "M";
      }
      printf "%d|%s|%s|%s\n", t, u, a, p; i++;
    }
  }
}'
