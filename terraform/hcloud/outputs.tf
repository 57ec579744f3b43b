output "floating_ip" {
  description = "The address clients connect to (ws://FLOATING_IP/ws); point the DNS name here."
  value       = hcloud_floating_ip.lb.ip_address
}

output "inventory" {
  description = "The Ansible inventory written for these hosts."
  value       = local_file.inventory.filename
}

output "servers" {
  description = "Public and private address of every server."
  value = {
    for name, host in local.hosts : name => {
      public  = hcloud_server.host[name].ipv4_address
      private = host.ip
    }
  }
}
