import { http } from './http'
import type { MqttCredential } from '@/types/models'

export const fetchMqttCredentials = () => http.post<MqttCredential>('/mqtt/credentials')
