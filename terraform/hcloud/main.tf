# TuiTalk on Hetzner Cloud: the 12 hosts of the design, a private network with fixed
# addresses, a floating IP for the load balancers, a firewall, and an Ansible inventory
# of the same shape as every other environment (then: ansible-playbook -i
# inventories/hcloud site.yml).

locals {
  # The host table: name => group and private address (as in the other inventories).
  hosts = {
    lb1      = { group = "loadbalancer", ip = "10.0.1.11" }
    lb2      = { group = "loadbalancer", ip = "10.0.1.12" }
    backend1 = { group = "backend", ip = "10.0.1.21" }
    backend2 = { group = "backend", ip = "10.0.1.22" }
    backend3 = { group = "backend", ip = "10.0.1.23" }
    redis1   = { group = "redis", ip = "10.0.1.31" }
    redis2   = { group = "redis", ip = "10.0.1.32" }
    redis3   = { group = "redis", ip = "10.0.1.33" }
    redis4   = { group = "redis", ip = "10.0.1.34" }
    redis5   = { group = "redis", ip = "10.0.1.35" }
    redis6   = { group = "redis", ip = "10.0.1.36" }
    pg1      = { group = "postgresql", ip = "10.0.1.41" }
  }
  groups = ["loadbalancer", "backend", "redis", "postgresql"]
  labels = { app = "tuitalk" }
}

resource "hcloud_ssh_key" "admin" {
  name       = "${var.name_prefix}-admin"
  public_key = file(pathexpand(var.ssh_public_key_file))
  labels     = local.labels
}

resource "hcloud_network" "private" {
  name     = "${var.name_prefix}-private"
  ip_range = var.network_cidr
  labels   = local.labels
}

resource "hcloud_network_subnet" "hosts" {
  network_id   = hcloud_network.private.id
  type         = "cloud"
  network_zone = var.network_zone
  ip_range     = var.subnet_cidr
}

# Spread each group's servers over different physical hosts, so that one hardware
# failure takes at most one of them (the failure the design survives).
resource "hcloud_placement_group" "spread" {
  for_each = toset(local.groups)
  name     = "${var.name_prefix}-${each.key}"
  type     = "spread"
  labels   = local.labels
}

# Public side: ssh from the admin networks only; HTTP only to the load balancers.
# Everything between the servers goes over the private network, which Hetzner's
# firewalls do not filter.
resource "hcloud_firewall" "admin" {
  name   = "${var.name_prefix}-admin"
  labels = local.labels

  rule {
    description = "ssh from the admin networks"
    direction   = "in"
    protocol    = "tcp"
    port        = "22"
    source_ips  = var.admin_cidrs
  }
}

resource "hcloud_firewall" "web" {
  name   = "${var.name_prefix}-web"
  labels = local.labels

  rule {
    description = "HTTP and WebSocket to the load balancers"
    direction   = "in"
    protocol    = "tcp"
    port        = "80"
    source_ips  = ["0.0.0.0/0", "::/0"]
  }
}

resource "hcloud_server" "host" {
  for_each = local.hosts

  name               = "${var.name_prefix}-${each.key}"
  server_type        = var.server_types[each.value.group]
  image              = var.image
  location           = var.location
  ssh_keys           = [hcloud_ssh_key.admin.id]
  placement_group_id = hcloud_placement_group.spread[each.value.group].id
  firewall_ids = concat(
    [hcloud_firewall.admin.id],
    each.value.group == "loadbalancer" ? [hcloud_firewall.web.id] : [],
  )
  labels = merge(local.labels, { group = each.value.group })

  public_net {
    ipv4_enabled = true
    ipv6_enabled = true
  }

  network {
    network_id = hcloud_network.private.id
    ip         = each.value.ip
  }

  depends_on = [hcloud_network_subnet.hosts]
}

# The address clients connect to. keepalived decides which load balancer holds it;
# its notify_master hook asks Hetzner's API to route it there (docs/deployment.md).
resource "hcloud_floating_ip" "lb" {
  name          = "${var.name_prefix}-lb"
  type          = "ipv4"
  home_location = var.location
  labels        = local.labels
}

resource "hcloud_floating_ip_assignment" "lb" {
  floating_ip_id = hcloud_floating_ip.lb.id
  server_id      = hcloud_server.host["lb1"].id

  lifecycle {
    # keepalived moves it during failovers; Terraform must not move it back.
    ignore_changes = [server_id]
  }
}

resource "local_file" "inventory" {
  filename        = var.inventory_path
  file_permission = "0644"
  content = templatefile("${path.module}/inventory.yml.tftpl", {
    groups = {
      for group in local.groups : group => {
        for name, host in local.hosts : name => {
          public  = hcloud_server.host[name].ipv4_address
          private = host.ip
        } if host.group == group
      }
    }
    floating_ip    = hcloud_floating_ip.lb.ip_address
    floating_ip_id = hcloud_floating_ip.lb.id
    lb_server_ids  = { for name, host in local.hosts : name => hcloud_server.host[name].id if host.group == "loadbalancer" }
    subnet_cidr    = var.subnet_cidr
  })
}
