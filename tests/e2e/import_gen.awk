# import_gen.awk - a model-system state-message export for tests/e2e/import.sh.
#
# Writes the export (CSV, UTF-8 BOM, CRLF, columns in an odd order with two
# extra ones) to `out`, and, for every row that must be imported, one
# "MACHINE TYPE TOPIC STATE TIME SEQ" line to `truth` (machine upper-cased,
# time as "YYYY-MM-DD HH:MM:SS", SEQ the file line), and the line number of
# every row that must be skipped to `bad`. `machines` machines x 20 topics
# (15 updates of type 500, 5 of type 402); every 10th machine reports its
# first update twice (the newer row wins; equal times: the later line);
# every 7th machine's name is lower-case on some rows; every 3rd time is
# ISO 8601 with Z; some names are quoted, one domain has a comma.
# Times fall on the days listed in `days` ("YYYY-MM-DD ..."), the repeated
# rows on `newest` (a later day).
# Usage: awk -v machines=N -v seed=S -v days=D -v newest=DAY -v out=F -v truth=F -v bad=F \
#            -f import_gen.awk
function row(m, dom, tt, tid, st, t, iso,   name, tx) {
    name = sprintf("PC-%05d", m);
    if (m % 7 == 0 && line % 2 == 0)
        name = tolower(name);
    if (m % 5 == 0)
        name = "\"" name "\"";
    tx = t;
    if (iso)
        tx = substr(t, 1, 10) "T" substr(t, 12) "Z";
    # header: StateID,TopicType,StateName,MachineName,StateTime,TopicID,Domain,ResourceID
    line++;
    printf "%d,%d,st%d,%s,%s,%s,%s,%d\r\n", st, tt, st, name, tx, tid, dom, m >out;
    printf "PC-%05d %d %s %d %s %d\n", m, tt, tid, st, t, line >truth;
}
function badrow(text) {
    line++;
    printf "%s\r\n", text >out;
    print line >bad;
}
function rtime(   d) {
    d = 1 + int(rand() * nday);
    return sprintf("%s %02d:%02d:%02d", day[d], int(rand() * 24), int(rand() * 60), int(rand() * 60));
}
BEGIN {
    srand(seed);
    nday = split(days, day, " ");
    printf "\xEF\xBB\xBFStateID,TopicType,StateName,MachineName,StateTime,TopicID,Domain,ResourceID\r\n" >out;
    line = 1;
    for (m = 1; m <= machines; m++) {
        dom = m % 11 == 0 ? "\"CORP, EU\"" : "CORP";
        for (k = 1; k <= 20; k++) {
            if (k <= 15) {
                tt = 500; tid = sprintf("KB50%05d", k); st = int(rand() * 4);
            } else {
                tt = 402; tid = sprintf("{6a5b4f2e-1c3d-4e5f-8a9b-0c1d2e3f%04d}", k); st = 1 + int(rand() * 14);
            }
            t = rtime();
            row(m, dom, tt, tid, st, t, line % 3 == 0);
            if (k == 1 && m % 10 == 0) {
                # the same update again: newer, or (every 20th) at the same time
                t2 = m % 20 == 0 ? t : newest " 00:00:00";
                row(m, dom, tt, tid, (st + 1) % 4, t2, 0);
            }
        }
        if (m % 1000 == 500) {
            badrow(sprintf("2,999,x,PC-%05d,2026-10-01 00:00:00,KB1,CORP,%d", m, m));
            badrow(sprintf("9,500,x,PC-%05d,2026-10-01 00:00:00,KB1,CORP,%d", m, m));
            badrow(sprintf("2,500,x,,2026-10-01 00:00:00,KB1,CORP,%d", m));
            badrow(sprintf("2,500,x,PC-%05d,2026-10-01,KB1,CORP,%d", m, m));
            badrow(sprintf("2,500,x,\"PC-%05d\"z,2026-10-01 00:00:00,KB1,CORP,%d", m, m));
            long = sprintf("%0300d", m);
            badrow(sprintf("2,500,x,M%s,2026-10-01 00:00:00,KB1,CORP,%d", long, m));
            badrow("2,500,x");
        }
    }
}
