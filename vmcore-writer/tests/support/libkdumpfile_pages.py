#!/usr/bin/python3
"""Independent oracle: read physical pages with python3-libkdumpfile (Debian package).

Usage: libkdumpfile_pages.py DUMP SIZE ADDR...  (addresses in hex)
Prints one line per address: the hex bytes read, "EXCLUDED" or "ERROR <message>".
"""
import sys

import kdumpfile
from kdumpfile.exceptions import NoDataException

path, size = sys.argv[1], int(sys.argv[2])
k = kdumpfile.kdumpfile(path)
k.attr["addrxlat.ostype"] = "linux"
for a in sys.argv[3:]:
    try:
        print(k.read(kdumpfile.KDUMP_MACHPHYSADDR, int(a, 16), size).hex())
    except NoDataException:
        print("EXCLUDED")
    except Exception as e:  # noqa: BLE001 - any other failure is reported, not hidden
        print("ERROR", repr(e).replace("\n", " "))
