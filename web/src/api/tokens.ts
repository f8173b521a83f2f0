import { http } from './http'
import type { NewToken, Token } from '@/types/models'

export const fetchTokens = () => http.get<Token[]>('/tokens')
export const createToken = (name: string) => http.post<NewToken>('/tokens', { name })
export const removeToken = (id: string) => http.delete<void>(`/tokens/${encodeURIComponent(id)}`)
