-- owlgate as an XEP-0114 component of Prosody: the server side of
-- prosody-component.yaml. Paste it into /etc/prosody/prosody.cfg.lua in the
-- global section, before the first VirtualHost line (options after a
-- VirtualHost belong to that host, and Debian's conf.d/ files are included
-- after them), then restart Prosody. owlgate's tests start a real Prosody
-- with this very text.

-- The port owlgate connects to (xmpp.connect). The component link is not
-- encrypted: keep it on loopback, or on a private network.
component_ports = { 5347 }
component_interfaces = { "127.0.0.1" }

-- owlgate's subdomain (xmpp.domain): queues are reference@owlgate.example.edu,
-- patrons guest-1042@owlgate.example.edu. It must not also be a VirtualHost.
Component "owlgate.example.edu"
    -- The same value as OWLGATE_COMPONENT_SECRET (xmpp.secret).
    component_secret = "change-me-to-a-long-random-secret"
