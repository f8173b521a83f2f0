#!/bin/sh
# A plain device that moves between hubs (issue 20, docs/bridge.md "Devices that
# move"), with nothing but mosquitto_pub: every INTERVAL seconds it takes a reading
# (the JSON that READ_CMD prints) and publishes it on devices/$DEVICE/data to the first
# hub of HUBS that takes it. QoS 1: mosquitto_pub exits 0 only once the hub has
# acknowledged, which for a Hearth hub means stored. So the reading goes home whenever
# the home hub answers, and to the cloud when it does not.
#
#   DEVICE=porch SECRET_FILE=/etc/porch.secret \
#   HUBS="home.local:1883 cloud.example:8883" TLS_OPTS="--cafile /etc/cloud-ca.pem" \
#   READ_CMD='echo "{\"temperature\": $(cat /sys/class/thermal/thermal_zone0/temp)}"' \
#   sh moving-device.sh
#
# TLS_OPTS is used for every hub on port 8883. COUNT stops after that many readings
# (0, the default: never). A reading that no hub took is dropped (logged on stderr):
# mosquitto_pub keeps nothing; `hearth agent` queues on disk instead.
set -u
: "${DEVICE:?give DEVICE}" "${HUBS:?give HUBS (host:port ...)}" "${READ_CMD:?give READ_CMD}"
INTERVAL=${INTERVAL:-30}
COUNT=${COUNT:-0}
SECRET=${SECRET:-$(cat "${SECRET_FILE:?give SECRET or SECRET_FILE}")}
sent=0
while [ "$COUNT" -eq 0 ] || [ "$sent" -lt "$COUNT" ]; do
    reading=$(sh -c "$READ_CMD")
    taken=""
    for hub in $HUBS; do
        host=${hub%:*}
        port=${hub##*:}
        tls=""
        if [ "$port" = 8883 ]; then tls=${TLS_OPTS:-}; fi
        # $tls unquoted on purpose: it holds several options.
        # shellcheck disable=SC2086
        if mosquitto_pub -h "$host" -p "$port" $tls -V mqttv5 -i "$DEVICE" \
            -u "$DEVICE" -P "$SECRET" -q 1 -t "devices/$DEVICE/data" -m "$reading" \
            2>/dev/null; then
            taken=$hub
            break
        fi
    done
    if [ -n "$taken" ]; then
        echo "sent to $taken: $reading"
    else
        echo "no hub took: $reading" >&2
    fi
    sent=$((sent + 1))
    if [ "$COUNT" -eq 0 ] || [ "$sent" -lt "$COUNT" ]; then sleep "$INTERVAL"; fi
done
